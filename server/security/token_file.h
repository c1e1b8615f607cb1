#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace docgate::security {

// What a token may do. Scopes are independent: a client that writes and reads
// needs both.
enum Scope : uint8_t {
  kRead = 1 << 0,   // GetDocument, WaitVisible, ListDocuments
  kWrite = 1 << 1,  // CreateDocument, UpdateDocumentStatus
};

using TokenHash = std::array<uint8_t, 32>;  // SHA-256 of the token

// One line of the --auth-tokens-file. The file holds hashes, never tokens.
struct TokenEntry {
  std::string name;  // who holds the token: shown in logs, never the token
  TokenHash hash;
  uint8_t scopes = 0;  // Scope bits
};

// Parses the --auth-tokens-file format: one token a line,
//
//   NAME  SHA256-HEX  SCOPES      e.g.  ingest-workers  9f86d081...  read,write
//
// SCOPES a comma-separated set of `read` and `write`; `#` starts a comment; blank
// lines are skipped. Make a hash with `printf %s "$TOKEN" | sha256sum`.
// INVALID_ARGUMENT naming the line for anything else (the message never repeats
// the line's hash). Names are unique.
absl::StatusOr<std::vector<TokenEntry>> ParseTokenFile(std::string_view text);

// SHA-256 of `token`.
TokenHash HashToken(std::string_view token);

}  // namespace docgate::security
