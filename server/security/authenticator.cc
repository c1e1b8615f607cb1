#include "server/security/authenticator.h"

#include <openssl/crypto.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/common/read_file.h"
#include "spdlog/spdlog.h"

namespace docgate::security {
namespace {

// The tokens of `contents`, the file at `path`: INVALID_ARGUMENT when they do not
// parse or there are none (an emptied file would lock every client out).
absl::StatusOr<std::vector<TokenEntry>> TokensOf(const std::string& path, const std::string& contents) {
  auto tokens = ParseTokenFile(contents);
  if (!tokens.ok()) return tokens.status();
  if (tokens->empty()) return absl::InvalidArgumentError("the tokens file " + path + " holds no token");
  return tokens;
}

// The token of "Bearer TOKEN" (the scheme is case-insensitive, RFC 6750).
std::optional<std::string_view> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(authorization.data(), kScheme.size()),
                              absl::string_view(kScheme.data(), kScheme.size()))) {
    return std::nullopt;
  }
  return authorization.substr(kScheme.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Open(const std::string& path,
                                                                   std::chrono::milliseconds reload_interval) {
  auto contents = ReadWholeFile(path);
  if (!contents) return absl::InvalidArgumentError("cannot read the tokens file " + path);
  auto tokens = TokensOf(path, *contents);
  if (!tokens.ok()) return tokens.status();
  return std::unique_ptr<Authenticator>(
      new Authenticator(path, std::move(*contents), std::move(*tokens), reload_interval));
}

Authenticator::Authenticator(std::vector<TokenEntry> tokens)
    : tokens_(std::make_shared<const std::vector<TokenEntry>>(std::move(tokens))) {}

Authenticator::Authenticator(std::string path, std::string contents, std::vector<TokenEntry> tokens,
                             std::chrono::milliseconds reload_interval)
    : path_(std::move(path)),
      contents_(std::move(contents)),
      tokens_(std::make_shared<const std::vector<TokenEntry>>(std::move(tokens))),
      reload_interval_(reload_interval) {
  reloader_ = std::thread([this] { ReloadLoop(); });
}

Authenticator::~Authenticator() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (reloader_.joinable()) reloader_.join();
}

std::shared_ptr<const std::vector<TokenEntry>> Authenticator::tokens() const {
  std::lock_guard lock(mu_);
  return tokens_;
}

absl::StatusOr<std::string> Authenticator::Authorize(std::optional<std::string_view> authorization,
                                                     Scope needed) const {
  if (!authorization) return absl::UnauthenticatedError("missing bearer token (authorization metadata)");
  const auto token = BearerToken(*authorization);
  if (!token) return absl::UnauthenticatedError("the authorization metadata is not \"Bearer TOKEN\"");
  const TokenHash hash = HashToken(*token);
  const auto tokens = this->tokens();
  const TokenEntry* match = nullptr;
  for (const auto& entry : *tokens) {
    if (CRYPTO_memcmp(entry.hash.data(), hash.data(), hash.size()) == 0) match = &entry;
  }
  if (match == nullptr) return absl::UnauthenticatedError("unknown bearer token");
  if ((match->scopes & needed) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("token '", match->name, "' lacks the ", needed == kWrite ? "write" : "read", " scope"));
  }
  return match->name;
}

absl::Status Authenticator::Reload() {
  std::lock_guard reloading(reload_mu_);
  auto contents = ReadWholeFile(path_);
  if (!contents) return absl::InvalidArgumentError("cannot read the tokens file " + path_);
  if (*contents == contents_) return absl::OkStatus();
  auto tokens = TokensOf(path_, *contents);
  if (!tokens.ok()) return tokens.status();  // reported again at each look until mended
  contents_ = std::move(*contents);
  spdlog::info("tokens file reloaded path={} tokens={}", path_, tokens->size());
  std::lock_guard lock(mu_);
  tokens_ = std::make_shared<const std::vector<TokenEntry>>(std::move(*tokens));
  return absl::OkStatus();
}

void Authenticator::ReloadLoop() {
  std::unique_lock lock(mu_);
  while (!stop_.wait_for(lock, reload_interval_, [this] { return stopping_; })) {
    lock.unlock();
    if (auto s = Reload(); !s.ok()) {
      spdlog::error("tokens file not reloaded ({}); the tokens read before stay in use", std::string(s.message()));
    }
    lock.lock();
  }
}

}  // namespace docgate::security
