#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/store/document.h"

namespace docgate::store {

// Attributes as a JSON object of strings, for a jsonb parameter. Input strings are
// valid UTF-8 (proto3 guarantees it); control characters are escaped.
std::string EncodeAttributes(const Attributes& attributes);

// Parses a flat JSON object whose values are all strings (what PostgreSQL prints
// for the jsonb column). DATA_LOSS for anything else: the row was not written by us.
absl::StatusOr<Attributes> DecodeAttributes(std::string_view json);

}  // namespace docgate::store
