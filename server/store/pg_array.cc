#include "server/store/pg_array.h"

#include <cstdint>

namespace docgate::store {

std::string ArrayLiteral(const std::vector<std::string_view>& texts) {
  size_t size = 2;
  for (auto t : texts) size += t.size() + 3;
  std::string out;
  out.reserve(size);
  out += '{';
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : texts[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

std::string ArrayLiteral(const std::vector<std::string>& texts) {
  return ArrayLiteral(std::vector<std::string_view>(texts.begin(), texts.end()));
}

namespace {

void AppendInt32(std::string& out, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  out.append(bytes, 4);
}

constexpr uint32_t kByteaOid = 17;

}  // namespace

std::string ByteaArrayBinary(const std::vector<std::string_view>& values) {
  size_t size = 20;
  for (auto v : values) size += 4 + v.size();
  std::string out;
  out.reserve(size);
  AppendInt32(out, 1);  // dimensions
  AppendInt32(out, 0);  // no NULLs
  AppendInt32(out, kByteaOid);
  AppendInt32(out, static_cast<uint32_t>(values.size()));
  AppendInt32(out, 1);  // lower bound
  for (auto v : values) {
    AppendInt32(out, static_cast<uint32_t>(v.size()));
    out.append(v.data(), v.size());
  }
  return out;
}

}  // namespace docgate::store
