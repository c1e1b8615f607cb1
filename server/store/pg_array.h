#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace docgate::store {

// The one way docgate writes a PostgreSQL array parameter as text: an array literal
// ("{...}") of the given values. Texts are quoted and escaped, so that any text
// (commas, braces, quotes, backslashes, newlines) comes back as it went in; they
// must not contain NUL (PostgreSQL text cannot hold it; validation rejects it).
std::string ArrayLiteral(const std::vector<std::string_view>& texts);
std::string ArrayLiteral(const std::vector<std::string>& texts);

// Integers (and enums over integers) as a PostgreSQL array literal, e.g. "{1,2}".
template <typename T>
std::string ArrayLiteral(const std::vector<T>& values) {
  static_assert(std::is_integral_v<T> || std::is_enum_v<T>, "texts or integers");
  std::vector<std::string> digits;
  digits.reserve(values.size());
  for (const T& v : values) digits.push_back(std::to_string(static_cast<long long>(v)));
  return ArrayLiteral(digits);
}

// A one-dimensional bytea[] in PostgreSQL's binary array format (what array_recv
// reads), to pass as a binary parameter: bytes go as they are, with no hex text to
// write here and parse there.
std::string ByteaArrayBinary(const std::vector<std::string_view>& values);

}  // namespace docgate::store
