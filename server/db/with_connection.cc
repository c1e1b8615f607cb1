#include "server/db/with_connection.h"

#include <pqxx/nontransaction>

namespace docgate::db::internal {
namespace {

// statement_timeout steps, in milliseconds. The time left is rounded down to one, so
// a statement never outlives its RPC's deadline (a client told DEADLINE_EXCEEDED can
// rely on the statement having been cancelled), at the price of giving up to a third
// of the time left; below the first step the exact time is used.
constexpr int kSteps[] = {100,  150,  200,  300,   400,   500,   750,   1000,  1500,   2000,
                          3000, 5000, 7500, 10000, 15000, 20000, 30000, 60000, 120000, 300000};

// The server learns the deadline as a timeout, counted from when the request
// arrived: later than the client's clock started it. Without a margin a statement
// could run a little past the moment the client was told DEADLINE_EXCEEDED.
constexpr auto kClientClockMargin = std::chrono::milliseconds(20);

int StepFor(Clock::duration left) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
  if (ms < kSteps[0]) return static_cast<int>(std::max<int64_t>(1, ms));
  int step = kSteps[0];
  for (int s : kSteps) {
    if (s <= ms) step = s;
  }
  return step;
}

}  // namespace

int StatementTimeoutFor(const QueryContext& ctx, Clock::time_point now) {
  const int cap = static_cast<int>(std::clamp<int64_t>(ctx.statement_timeout.count(), 1, INT32_MAX));
  if (ctx.deadline == Clock::time_point::max()) return cap;
  return std::min(cap, StepFor(ctx.deadline - now - kClientClockMargin));
}

void BoundStatements(Lease& lease, int timeout_ms) {
  if (lease.statement_timeout_ms() == timeout_ms) return;
  pqxx::nontransaction tx(lease.connection().pq());
  tx.exec("SET statement_timeout = " + std::to_string(timeout_ms));
  lease.statement_timeout_ms() = timeout_ms;
}

Clock::time_point UnresponsiveAt(int timeout_ms, Clock::time_point now) {
  return now + std::chrono::milliseconds(timeout_ms) + kCutGrace;
}

Clock::time_point CutOff(Clock::time_point unresponsive_at, const QueryContext& ctx) {
  if (ctx.deadline == Clock::time_point::max()) return unresponsive_at;
  // statement_timeout ends at least kClientClockMargin before the deadline, so
  // PostgreSQL, when it answers at all, usually still answers first.
  return std::min(unresponsive_at, ctx.deadline - kClientClockMargin / 2);
}

bool CutShowsUnresponsive(QueryWatchdog::Outcome outcome, Clock::time_point cut_at, Clock::time_point unresponsive_at) {
  return outcome == QueryWatchdog::Outcome::kTimedOut && cut_at >= unresponsive_at - (kCutGrace - kUnresponsiveGrace);
}

absl::Status Explain(const absl::Status& status, const QueryContext& ctx, bool cut, Clock::time_point now) {
  if (ctx.cancel != nullptr && ctx.cancel->cancelled()) return absl::CancelledError("cancelled by the client");
  const bool expired = now >= ctx.deadline;
  if (cut || (expired && (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)))) {
    return absl::DeadlineExceededError("deadline passed while the query ran; it was cancelled");
  }
  return status;
}

bool ShouldRetry(const absl::Status& status, bool connection_lost, Retry retry, int attempt, bool& lost_before,
                 const QueryContext& ctx, Clock::time_point now) {
  if (attempt >= kMaxAttempts || now >= ctx.deadline) return false;
  const auto sqlstate = SqlStateOf(status);
  if (sqlstate == "40001" || sqlstate == "40P01") return true;
  if (connection_lost && retry == Retry::kReadOnce && !lost_before && absl::IsUnavailable(status)) {
    lost_before = true;
    return true;
  }
  return false;
}

void ReportFailure(DbObserver* observer, const absl::Status& status, bool connection_lost) {
  if (observer == nullptr) return;
  const auto sqlstate = SqlStateOf(status);
  if (sqlstate.has_value()) {
    observer->StatementFailed(*sqlstate);
  } else if (connection_lost) {
    observer->StatementFailed("08000");
  }
}

absl::Status FinalStatus(const absl::Status& explained, Retry retry, bool sent, bool cut, bool lost) {
  // Reported as retryable only because creates are idempotent by id.
  if (retry == Retry::kNever && sent && (cut || lost)) return UnknownOutcome();
  return explained;
}

absl::Status UnknownOutcome() {
  return absl::UnavailableError(
      "the write was sent but its connection was lost or cut before the result came: its outcome is unknown;"
      " retrying a create with the same id is safe, a status move should read the document first");
}

}  // namespace docgate::db::internal
