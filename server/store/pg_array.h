#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace docgate::store {

// A PostgreSQL array literal ("{...}") of the given texts, each quoted, so that any
// text (commas, braces, quotes, backslashes, newlines) comes back as it went in.
// Texts must not contain NUL (PostgreSQL text cannot hold it; validation rejects it).
std::string TextArrayLiteral(const std::vector<std::string_view>& texts);

// A one-dimensional bytea[] in PostgreSQL's binary array format (what array_recv
// reads), to pass as a binary parameter: bytes go as they are, with no hex text to
// write here and parse there.
std::string ByteaArrayBinary(const std::vector<std::string_view>& values);

}  // namespace docgate::store
