#pragma once

#include <algorithm>
#include <exception>
#include <memory>

#include "absl/status/statusor.h"
#include "server/db/cancel_signal.h"
#include "server/db/pool.h"
#include "server/db/sql_errors.h"

namespace docgate::db {

// The time limits and cancellation of one database operation.
struct QueryContext {
  // The RPC's own deadline: past it the caller gets DEADLINE_EXCEEDED.
  Clock::time_point deadline = Clock::time_point::max();
  // The acquire timeout, counted from the request's arrival: past it, UNAVAILABLE.
  // max: only the deadline bounds the wait for a connection.
  Clock::time_point acquire_by = Clock::time_point::max();
  // The longest any one statement may run, whatever the deadline.
  std::chrono::milliseconds statement_timeout{30000};
  // Set by the RPC when its client cancels; may be null.
  std::shared_ptr<CancelSignal> cancel;
};

// Whether an operation may run again after losing its connection mid-way.
enum class Retry {
  kReadOnce,  // a read: once more, on another connection
  kNever,     // a write: its outcome is unknown, the client decides (creates are idempotent by id)
};

namespace internal {

// The watchdog cuts a connection this long after its deadline, if PostgreSQL's own
// statement_timeout has not ended the call by then (a network that swallows packets).
inline constexpr std::chrono::milliseconds kCutGrace{100};
// A cut made at least this long after PostgreSQL's statement timeout says the server
// or the network stopped answering; an earlier one (a short deadline's) may only be
// a busy server late with its answer.
inline constexpr std::chrono::milliseconds kUnresponsiveGrace{50};
inline constexpr int kMaxAttempts = 3;

// The statement_timeout for a call, in milliseconds: the time left rounded down to a
// step, and at most the context's statement_timeout.
int StatementTimeoutFor(const QueryContext& ctx, Clock::time_point now);

// Sets the session's statement_timeout, with one round trip, only when it changes
// (it rarely does: clients use similar deadlines). Session-level rather than SET
// LOCAL: these statements run in autocommit, and a transaction block would cost
// three more round trips.
void BoundStatements(Lease& lease, int timeout_ms);

// When a call still running shows that the server or the network stopped
// answering: kCutGrace after PostgreSQL's own statement timeout should have ended it
// (a responsive server always answers by then).
Clock::time_point UnresponsiveAt(int timeout_ms, Clock::time_point now);

// When the watchdog cuts a call still running: at `unresponsive_at`, or before the
// RPC's deadline if that comes first, so that the caller hears what happened before
// its own timer gives up.
Clock::time_point CutOff(Clock::time_point unresponsive_at, const QueryContext& ctx);

// Whether a cut made at `cut_at` says the database stopped answering (the pool then
// treats it as unreachable): a timed-out cut at least kUnresponsiveGrace after the
// statement timeout, not an earlier one made for a short deadline.
bool CutShowsUnresponsive(QueryWatchdog::Outcome outcome, Clock::time_point cut_at, Clock::time_point unresponsive_at);

// The status the caller sees for a failed attempt: cancellation and the deadline
// take precedence over what the broken call itself reported.
absl::Status Explain(const absl::Status& status, const QueryContext& ctx, bool cut, Clock::time_point now);

// Whether to run again: serialization failures and deadlocks (any operation), or a
// read's first lost connection, while time remains.
bool ShouldRetry(const absl::Status& status, bool connection_lost, Retry retry, int attempt, bool& lost_before,
                 const QueryContext& ctx, Clock::time_point now);

// Tells `observer` (may be null) of a statement that failed with `status`; a lost
// connection without a SQLSTATE counts as class 08.
void ReportFailure(DbObserver* observer, const absl::Status& status, bool connection_lost);

// UNAVAILABLE, "outcome unknown": what a write's caller is told when its statement
// was sent and its connection was then lost or cut before the result came.
absl::Status UnknownOutcome();

// The status of a failed attempt that is not retried. A write (Retry::kNever) whose
// statements were `sent` and whose connection was then `cut` or `lost` may still
// commit in PostgreSQL, whatever the deadline or the client did meanwhile: it gets
// UnknownOutcome(), never DEADLINE_EXCEEDED or CANCELLED ("it did not happen").
// Otherwise `explained` (Explain's answer) stands.
absl::Status FinalStatus(const absl::Status& explained, Retry retry, bool sent, bool cut, bool lost);

}  // namespace internal

// Runs `fn(pqxx::connection&)` -> absl::StatusOr<T> on a leased connection: the one
// place where an operation meets the pool. Every exception becomes a Status here
// (sql_errors.h); a connection in an unknown state is discarded, never returned.
// Statements are bounded by the RPC's deadline; a cancelled RPC cuts its call. An
// RPC whose deadline is already spent is refused before it takes a connection.
// Time is the pool's clock.
template <typename T, typename Fn>
absl::StatusOr<T> WithConnection(Pool& pool, const QueryContext& ctx, Retry retry, Fn&& fn) {
  const Clock& clock = pool.clock();
  bool lost_before = false;
  for (int attempt = 1;; ++attempt) {
    if (ctx.cancel != nullptr && ctx.cancel->cancelled()) return absl::CancelledError("cancelled by the client");
    if (clock.Now() >= ctx.deadline) return absl::DeadlineExceededError("deadline passed before the query ran");
    // A retry after a lost connection takes a newly opened one.
    auto lease = pool.Acquire(std::min(ctx.deadline, ctx.acquire_by), ctx.deadline, /*fresh=*/lost_before);
    if (!lease.ok()) return lease.status();

    QueryWatchdog& watchdog = pool.watchdog();
    const int timeout_ms = internal::StatementTimeoutFor(ctx, clock.Now());
    const auto unresponsive_at = internal::UnresponsiveAt(timeout_ms, clock.Now());
    const auto cut_at = internal::CutOff(unresponsive_at, ctx);
    const auto ticket = watchdog.Watch(lease->connection().socket(), cut_at);
    if (ctx.cancel != nullptr) ctx.cancel->SetHook([&watchdog, ticket] { watchdog.CutNow(ticket); });
    absl::StatusOr<T> result = absl::InternalError("not run");
    bool unusable = false;
    bool sent = false;  // fn's statements may have reached PostgreSQL
    try {
      internal::BoundStatements(*lease, timeout_ms);
      sent = true;
      result = fn(lease->connection().pq());
    } catch (const std::exception& e) {
      unusable = LeavesConnectionUnusable(e);
      result = StatusFromException(e);
      internal::ReportFailure(pool.observer(), result.status(), unusable);
    }
    if (ctx.cancel != nullptr) ctx.cancel->ClearHook();
    const QueryWatchdog::Outcome outcome = watchdog.Unwatch(ticket);
    const bool cut = outcome != QueryWatchdog::Outcome::kNotCut;
    if (internal::CutShowsUnresponsive(outcome, cut_at, unresponsive_at)) lease->MarkUnresponsive();
    if (cut || unusable) lease->MarkUnusable();
    if (result.ok()) return result;
    const bool lost = unusable && !cut;
    const absl::Status status = internal::Explain(result.status(), ctx, cut, clock.Now());
    if (internal::ShouldRetry(status, lost, retry, attempt, lost_before, ctx, clock.Now())) continue;
    return internal::FinalStatus(status, retry, sent, cut, lost);
  }
}

}  // namespace docgate::db
