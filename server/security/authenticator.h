#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/security/token_file.h"

namespace docgate::security {

// Checks bearer tokens against the --auth-tokens-file, and re-reads the file
// while it runs (a rotated Kubernetes secret takes effect without a restart).
// Thread-safe.
class Authenticator {
 public:
  // Reads `path` now: INVALID_ARGUMENT when it cannot be read or parsed, or holds
  // no token. Then re-reads it every `reload_interval` on a thread of its own; a
  // changed file that does not parse, or holds no token, keeps the previous tokens,
  // with an error logged at every look until it is mended.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Open(const std::string& path,
                                                             std::chrono::milliseconds reload_interval);
  // Fixed tokens, no file (for tests).
  explicit Authenticator(std::vector<TokenEntry> tokens);
  ~Authenticator();

  // `authorization` is the call's `authorization` metadata ("Bearer TOKEN"), absent
  // when the client sent none. The token's name when a known token has `needed`; UNAUTHENTICATED
  // for a missing, malformed or unknown token; PERMISSION_DENIED when the token
  // lacks the scope. Every known hash is compared, each in constant time, so that
  // the time taken says nothing of how close a guess came.
  absl::StatusOr<std::string> Authorize(std::optional<std::string_view> authorization, Scope needed) const;

  // Re-reads the file now (the reload thread's step). OK when it is unchanged or
  // its new tokens are in use; else the error, and the tokens stay as they were.
  absl::Status Reload();

 private:
  Authenticator(std::string path, std::string contents, std::vector<TokenEntry> tokens,
                std::chrono::milliseconds reload_interval);
  void ReloadLoop();
  std::shared_ptr<const std::vector<TokenEntry>> tokens() const;

  const std::string path_;
  std::mutex reload_mu_;
  std::string contents_;  // the file whose tokens are in use; guarded by reload_mu_
  mutable std::mutex mu_;
  std::shared_ptr<const std::vector<TokenEntry>> tokens_;  // guarded by mu_
  bool stopping_ = false;                                  // guarded by mu_
  std::condition_variable stop_;
  const std::chrono::milliseconds reload_interval_{0};
  std::thread reloader_;
};

}  // namespace docgate::security
