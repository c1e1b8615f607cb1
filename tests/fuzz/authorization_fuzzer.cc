// libFuzzer target: what decides who may call. The `authorization` metadata a
// client sends, against fixed tokens: only the exact "Bearer <token>" (scheme in
// any case) of a token with the scope passes, and a refusal is UNAUTHENTICATED or
// PERMISSION_DENIED. Also the --auth-tokens-file parser: a file it accepts has
// unique names and a scope on every line.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "server/security/authenticator.h"

namespace {

using namespace docgate::security;

const Authenticator& Tokens() {
  static const auto* auth = new Authenticator({TokenEntry{"reader", HashToken("read-token"), kRead},
                                               TokenEntry{"writer", HashToken("write-token"), kRead | kWrite}});
  return *auth;
}

bool IsBearer(std::string_view header, std::string_view token) {
  if (header.size() != 7 + token.size() || header.substr(7) != token) return false;
  for (size_t i = 0; i < 7; ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != "bearer "[i]) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Scope needed = (data[0] & 1) != 0 ? kWrite : kRead;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  const absl::StatusOr<std::string> caller = Tokens().Authorize(text, needed);
  const absl::Status status = caller.status();
  const bool should_pass = IsBearer(text, "write-token") || (needed == kRead && IsBearer(text, "read-token"));
  if (status.ok() != should_pass) std::abort();
  if (caller.ok() && *caller != (IsBearer(text, "write-token") ? "writer" : "reader")) std::abort();  // who it is
  if (!status.ok() && status.code() != absl::StatusCode::kUnauthenticated &&
      status.code() != absl::StatusCode::kPermissionDenied) {
    std::abort();
  }
  if (status.code() == absl::StatusCode::kPermissionDenied && !IsBearer(text, "read-token")) std::abort();

  auto file = ParseTokenFile(text);
  if (file.ok()) {
    std::set<std::string> names;
    for (const auto& entry : *file) {
      if (entry.scopes == 0 || entry.name.empty() || !names.insert(entry.name).second) std::abort();
    }
  } else if (file.status().code() != absl::StatusCode::kInvalidArgument) {
    std::abort();
  }
  return 0;
}
