#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace docgate::store {

// The lowercase canonical form (8-4-4-4-12 hex digits) of a UUID written in either
// case, or nullopt when `text` is not one.
std::optional<std::string> CanonicalUuid(std::string_view text);

// A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids
// made later sort later and index inserts stay local. Thread-safe.
std::string NewUuidV7();

}  // namespace docgate::store
