#include "server/db/with_connection.h"

#include <pqxx/nontransaction>

namespace docgate::db::internal {
namespace {

// statement_timeout steps, in milliseconds; past the last, no server-side limit
// (the watchdog still cuts at the deadline).
constexpr int kSteps[] = {100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000, 120000, 300000};

int StepFor(Clock::duration left) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
  for (int step : kSteps) {
    if (ms <= step) return step;
  }
  return 0;
}

}  // namespace

void BoundStatements(Lease& lease, const QueryContext& ctx) {
  const int wanted = ctx.deadline == Clock::time_point::max()
                         ? static_cast<int>(kNoDeadlineStatementTimeout.count())
                         : StepFor(ctx.deadline - Clock::now());
  if (lease.statement_timeout_ms() == wanted) return;
  pqxx::nontransaction tx(lease.connection());
  tx.exec("SET statement_timeout = " + std::to_string(wanted));
  lease.statement_timeout_ms() = wanted;
}

Clock::time_point CutOff(const QueryContext& ctx) {
  if (ctx.deadline == Clock::time_point::max()) return Clock::now() + kNoDeadlineStatementTimeout + kCutGrace;
  return ctx.deadline + kCutGrace;
}

absl::Status Explain(const absl::Status& status, const QueryContext& ctx, bool cut) {
  if (ctx.cancel != nullptr && ctx.cancel->cancelled()) return absl::CancelledError("cancelled by the client");
  const bool expired = Clock::now() >= ctx.deadline;
  if (cut || (expired && (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)))) {
    return absl::DeadlineExceededError("deadline passed while the query ran; it was cancelled");
  }
  return status;
}

bool ShouldRetry(const absl::Status& status, bool connection_lost, Retry retry, int attempt, bool& lost_before,
                 const QueryContext& ctx) {
  if (attempt >= kMaxAttempts || Clock::now() >= ctx.deadline) return false;
  const auto sqlstate = SqlStateOf(status);
  if (sqlstate == "40001" || sqlstate == "40P01") return true;
  if (connection_lost && retry == Retry::kReadOnce && !lost_before && absl::IsUnavailable(status)) {
    lost_before = true;
    return true;
  }
  return false;
}

}  // namespace docgate::db::internal
