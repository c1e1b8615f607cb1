#include "server/store/pg_snapshot.h"

#include <charconv>
#include <string_view>

namespace docgate::store {
namespace {

bool ParseXid(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::string PgSnapshot::InProgressArray() const {
  std::string out = "{";
  for (size_t i = 0; i < in_progress.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(in_progress[i]);
  }
  return out + "}";
}

std::optional<PgSnapshot> ParsePgSnapshot(const std::string& text) {
  const size_t first = text.find(':');
  const size_t second = first == std::string::npos ? first : text.find(':', first + 1);
  if (second == std::string::npos) return std::nullopt;
  const std::string_view view(text);
  PgSnapshot s;
  if (!ParseXid(view.substr(0, first), s.xmin) || !ParseXid(view.substr(first + 1, second - first - 1), s.xmax)) {
    return std::nullopt;
  }
  if (s.xmin > s.xmax) return std::nullopt;
  std::string_view rest = view.substr(second + 1);
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    uint64_t xid = 0;
    if (!ParseXid(rest.substr(0, comma), xid) || xid < s.xmin || xid >= s.xmax) return std::nullopt;
    s.in_progress.push_back(xid);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
    if (rest.empty()) return std::nullopt;  // a trailing comma
  }
  return s;
}

}  // namespace docgate::store
