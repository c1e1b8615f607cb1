#include "server/rpc/failure_log.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/common/log_limiter.h"
#include "server/db/sql_errors.h"
#include "spdlog/spdlog.h"

namespace docgate::rpc {
namespace {

// Codes that come in floods: an outage, a client (or an attacker) with a bad token,
// or every reader holding a consistency token of a write a failover lost.
bool IsFloodCode(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnauthenticated ||
         code == absl::StatusCode::kPermissionDenied || code == absl::StatusCode::kDataLoss;
}

// A flood code's own limiter: 20 lines at once, then 10 a second, so that an
// outage's UNAVAILABLE lines never hold back the first lines of a DATA_LOSS.
LogLimiter& FloodLinesOf(absl::StatusCode code) {
  constexpr int kCodes = static_cast<int>(absl::StatusCode::kUnauthenticated) + 1;
  static const auto* limiters = [] {
    auto* made = new std::vector<std::unique_ptr<LogLimiter>>();
    for (int i = 0; i < kCodes; ++i) made->push_back(std::make_unique<LogLimiter>(20, std::chrono::milliseconds(100)));
    return made;
  }();
  const int index = static_cast<int>(code);
  return *(*limiters)[index >= 0 && index < kCodes ? index : static_cast<int>(absl::StatusCode::kUnknown)];
}

spdlog::level::level_enum LevelOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss: return spdlog::level::err;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied: return spdlog::level::warn;
    default: return spdlog::level::info;
  }
}

}  // namespace

void LogFailedRpc(const char* method, const std::string& request_id, const absl::Status& status,
                  std::chrono::steady_clock::duration elapsed) {
  // During an outage every request fails the same way: a few lines, each saying how
  // many it stands for (FloodLinesOf). Other failures are each logged.
  uint64_t suppressed = 0;
  if (IsFloodCode(status.code()) && !FloodLinesOf(status.code()).Allow(suppressed)) return;
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  const std::string sqlstate = db::SqlStateOf(status).value_or("");
  spdlog::log(LevelOf(status.code()),
              "rpc failed request_id={} method={} code={} duration_ms={:.3f} sqlstate={} reason=\"{}\"{}", request_id,
              method, absl::StatusCodeToString(status.code()), ms, sqlstate.empty() ? "-" : sqlstate,
              std::string(status.message()),
              suppressed > 0 ? absl::StrCat(" similar_failures_not_logged=", suppressed) : std::string());
}

}  // namespace docgate::rpc
