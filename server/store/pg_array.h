#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace docgate::store {

// A PostgreSQL array literal ("{...}") of the given texts, each quoted, so that any
// text (commas, braces, quotes, backslashes, newlines) comes back as it went in.
// Texts must not contain NUL (PostgreSQL text cannot hold it; validation rejects it).
std::string TextArrayLiteral(const std::vector<std::string_view>& texts);

}  // namespace docgate::store
