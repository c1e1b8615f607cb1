#include "server/security/token_file.h"

#include <openssl/evp.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace docgate::security {
namespace {

// Debian's Abseil has its own string_view, not std's.
using absl::string_view;

bool ParseHex(string_view hex, TokenHash& out) {
  if (hex.size() != 2 * out.size()) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

absl::Status LineError(size_t line, string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("tokens file, line ", line, ": ", what));
}

}  // namespace

absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text) {
  std::vector<TokenEntry> entries;
  std::set<std::string> names;
  size_t line_number = 0;
  for (string_view line : absl::StrSplit(string_view(text.data(), text.size()), '\n')) {
    ++line_number;
    if (auto hash = line.find('#'); hash != string_view::npos) line = line.substr(0, hash);
    std::vector<string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    if (fields.size() != 3) return LineError(line_number, "expected NAME SHA256-HEX SCOPES");
    TokenEntry entry;
    entry.name = std::string(fields[0]);
    if (!names.insert(entry.name).second) return LineError(line_number, "the name " + entry.name + " is used twice");
    if (!ParseHex(fields[1], entry.hash)) {
      return LineError(line_number, "the hash is not 64 hex digits (a SHA-256 of the token, as sha256sum prints)");
    }
    for (string_view scope : absl::StrSplit(fields[2], ',')) {
      if (scope == "read") {
        entry.scopes |= kRead;
      } else if (scope == "write") {
        entry.scopes |= kWrite;
      } else {
        return LineError(line_number, absl::StrCat("unknown scope '", scope, "' (read, write)"));
      }
    }
    entries.push_back(std::move(entry));
  }
  return entries;
}

TokenHash HashToken(std::string_view token) {
  TokenHash hash{};
  unsigned int size = 0;
  EVP_Digest(token.data(), token.size(), hash.data(), &size, EVP_sha256(), nullptr);
  return hash;
}

}  // namespace docgate::security
