#include "server/store/pg_array.h"

namespace docgate::store {

std::string TextArrayLiteral(const std::vector<std::string_view>& texts) {
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

}  // namespace docgate::store
