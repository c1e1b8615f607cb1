// The rules WithConnection applies: statement timeouts, what is retried, what a failure means.
#include "server/db/with_connection.h"

#include <gtest/gtest.h>
#include <pqxx/except>

namespace docgate::db {
namespace {

using std::chrono::milliseconds;

// The rules are pure functions of the time they are given: a fixed "now".
const Clock::time_point kNow = Clock::time_point() + std::chrono::hours(1);

QueryContext WithTimeLeft(milliseconds left) {
  QueryContext ctx;
  ctx.deadline = kNow + left;
  return ctx;
}

TEST(WithConnectionTest, StatementTimeoutRoundsTheTimeLeftDown) {
  EXPECT_EQ(internal::StatementTimeoutFor(QueryContext{}, kNow), 30000);  // no deadline
  const int got = internal::StatementTimeoutFor(WithTimeLeft(milliseconds(1400)), kNow);
  EXPECT_EQ(got, 1000);
  EXPECT_LE(internal::StatementTimeoutFor(WithTimeLeft(milliseconds(220)), kNow), 200);
  // Just above a step is not enough: the client's clock started earlier than ours.
  EXPECT_EQ(internal::StatementTimeoutFor(WithTimeLeft(milliseconds(1005)), kNow), 750);
  const int tiny = internal::StatementTimeoutFor(WithTimeLeft(milliseconds(40)), kNow);
  EXPECT_GE(tiny, 1);
  EXPECT_LE(tiny, 40);
}

TEST(WithConnectionTest, TheStatementTimeoutCapsEveryStatementWhateverTheDeadline) {
  QueryContext capped;
  capped.statement_timeout = milliseconds(500);
  EXPECT_EQ(internal::StatementTimeoutFor(capped, kNow), 500);  // no deadline
  QueryContext far = WithTimeLeft(std::chrono::seconds(20));
  far.statement_timeout = milliseconds(500);
  EXPECT_EQ(internal::StatementTimeoutFor(far, kNow), 500);
  QueryContext near = WithTimeLeft(milliseconds(220));
  near.statement_timeout = milliseconds(500);
  EXPECT_LE(internal::StatementTimeoutFor(near, kNow), 200);  // the deadline is nearer
}

TEST(WithConnectionTest, RetriesConflictsAndOneLostReadWhileTimeRemains) {
  const auto ctx = WithTimeLeft(std::chrono::seconds(10));
  const absl::Status serialization = StatusFromException(pqxx::serialization_failure("x"));
  const absl::Status deadlock = StatusFromException(pqxx::deadlock_detected("x"));
  const absl::Status lost = absl::UnavailableError("database connection lost");
  const absl::Status not_found = absl::NotFoundError("no");
  const absl::Status stale_version = absl::AbortedError("expected_version");  // ours: no SQLSTATE
  struct Case {
    absl::Status status;
    bool connection_lost;
    Retry retry;
    int attempt;
    bool lost_before;
    bool retried;
  };
  const Case cases[] = {
      {serialization, false, Retry::kNever, 1, false, true},
      {deadlock, false, Retry::kReadOnce, 2, false, true},
      {serialization, false, Retry::kNever, internal::kMaxAttempts, false, false},
      {lost, true, Retry::kReadOnce, 1, false, true},
      {lost, true, Retry::kReadOnce, 2, true, false},  // only once
      {lost, true, Retry::kNever, 1, false, false},    // a write's outcome is unknown
      {not_found, false, Retry::kReadOnce, 1, false, false},
      {stale_version, false, Retry::kNever, 1, false, false},
  };
  for (const auto& c : cases) {
    bool lost_before = c.lost_before;
    EXPECT_EQ(internal::ShouldRetry(c.status, c.connection_lost, c.retry, c.attempt, lost_before, ctx, kNow), c.retried)
        << c.status << " attempt " << c.attempt;
  }
  bool lost_before = false;
  EXPECT_FALSE(internal::ShouldRetry(serialization, false, Retry::kNever, 1, lost_before,
                                     WithTimeLeft(milliseconds(-1)), kNow));  // no time left
}

TEST(WithConnectionTest, CancellationAndTheDeadlineExplainAFailure) {
  auto ctx = WithTimeLeft(std::chrono::seconds(10));
  const absl::Status lost = absl::UnavailableError("database connection lost");
  EXPECT_EQ(internal::Explain(lost, ctx, /*cut=*/false, kNow).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(internal::Explain(lost, ctx, /*cut=*/true, kNow).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(internal::Explain(lost, WithTimeLeft(milliseconds(-1)), false, kNow).code(),
            absl::StatusCode::kDeadlineExceeded);
  ctx.cancel = std::make_shared<CancelSignal>();
  ctx.cancel->Cancel();
  EXPECT_EQ(internal::Explain(lost, ctx, true, kNow).code(), absl::StatusCode::kCancelled);
  EXPECT_NE(std::string(internal::UnknownOutcome().message()).find("same id is safe"), std::string::npos);
}

TEST(WithConnectionTest, AWriteSentThenCutOrLostHasAnUnknownOutcome) {
  const absl::Status deadline = absl::DeadlineExceededError("deadline passed while the query ran");
  const absl::Status cancelled = absl::CancelledError("cancelled by the client");
  const absl::Status lost = absl::UnavailableError("database connection lost");
  const absl::Status refused = absl::AlreadyExistsError("different content");
  struct Case {
    absl::Status explained;
    Retry retry;
    bool sent, cut, lost;
    absl::StatusCode want;
  };
  const Case cases[] = {
      // PostgreSQL may still commit these: never "it did not happen".
      {deadline, Retry::kNever, true, true, false, absl::StatusCode::kUnavailable},
      {cancelled, Retry::kNever, true, true, false, absl::StatusCode::kUnavailable},
      {deadline, Retry::kNever, true, false, true, absl::StatusCode::kUnavailable},
      {lost, Retry::kNever, true, false, true, absl::StatusCode::kUnavailable},
      // Cut before the write's statements were sent: nothing was written.
      {deadline, Retry::kNever, false, true, false, absl::StatusCode::kDeadlineExceeded},
      {cancelled, Retry::kNever, false, true, false, absl::StatusCode::kCancelled},
      // PostgreSQL answered: the outcome is known.
      {refused, Retry::kNever, true, false, false, absl::StatusCode::kAlreadyExists},
      {deadline, Retry::kNever, true, false, false, absl::StatusCode::kDeadlineExceeded},
      // A read changes nothing.
      {deadline, Retry::kReadOnce, true, true, false, absl::StatusCode::kDeadlineExceeded},
  };
  for (const auto& c : cases) {
    const absl::Status got = internal::FinalStatus(c.explained, c.retry, c.sent, c.cut, c.lost);
    EXPECT_EQ(got.code(), c.want) << c.explained << " sent=" << c.sent << " cut=" << c.cut << " lost=" << c.lost;
    if (c.want == absl::StatusCode::kUnavailable) {
      EXPECT_NE(std::string(got.message()).find("outcome is unknown"), std::string::npos);
    }
  }
}

TEST(WithConnectionTest, TheWatchdogCutsBeforeTheDeadlineAndAfterTheStatementTimeout) {
  for (const int left_ms : {30, 90, 150, 400, 1000, 2000, 10000}) {
    const auto ctx = WithTimeLeft(milliseconds(left_ms));
    const int timeout_ms = internal::StatementTimeoutFor(ctx, kNow);
    const auto cut = internal::CutOff(internal::UnresponsiveAt(timeout_ms, kNow), ctx);
    EXPECT_LT(cut, ctx.deadline) << left_ms;
    EXPECT_GT(cut, kNow + milliseconds(timeout_ms)) << left_ms;
  }
  // Without a deadline, the cut follows the statement timeout.
  EXPECT_GT(internal::CutOff(internal::UnresponsiveAt(30000, kNow), QueryContext{}), kNow + milliseconds(30000));
}

TEST(WithConnectionTest, OnlyACutWellAfterTheStatementTimeoutSaysTheDatabaseStoppedAnswering) {
  using Outcome = QueryWatchdog::Outcome;
  // A short deadline: the cut comes 10 ms after the statement timeout, before a busy
  // server may have reported its own timeout. Not "unresponsive".
  const auto short_call = WithTimeLeft(milliseconds(120));
  const auto unresponsive_at = internal::UnresponsiveAt(internal::StatementTimeoutFor(short_call, kNow), kNow);
  const auto early_cut = internal::CutOff(unresponsive_at, short_call);
  ASSERT_LT(early_cut, unresponsive_at);
  EXPECT_FALSE(internal::CutShowsUnresponsive(Outcome::kTimedOut, early_cut, unresponsive_at));
  // Half a second: the cut comes 90 ms after it (the deadline's margin), and says the
  // server stopped answering, as a cut at the full grace of a long call does.
  for (const int left_ms : {500, 2000}) {
    const auto call = WithTimeLeft(milliseconds(left_ms));
    const auto late = internal::UnresponsiveAt(internal::StatementTimeoutFor(call, kNow), kNow);
    EXPECT_TRUE(internal::CutShowsUnresponsive(Outcome::kTimedOut, internal::CutOff(late, call), late)) << left_ms;
  }
  const auto long_call = WithTimeLeft(milliseconds(2000));
  const auto late = internal::UnresponsiveAt(internal::StatementTimeoutFor(long_call, kNow), kNow);
  const auto full_cut = internal::CutOff(late, long_call);
  // A client's cancel never does.
  EXPECT_FALSE(internal::CutShowsUnresponsive(Outcome::kCancelled, full_cut, late));
}

}  // namespace
}  // namespace docgate::db
