// The rules WithConnection applies: statement timeouts, what is retried, what a failure means.
#include "server/db/with_connection.h"

#include <gtest/gtest.h>
#include <pqxx/except>

namespace docgate::db {
namespace {

using std::chrono::milliseconds;

QueryContext WithTimeLeft(milliseconds left) {
  QueryContext ctx;
  ctx.deadline = Clock::now() + left;
  return ctx;
}

TEST(WithConnectionTest, StatementTimeoutRoundsTheTimeLeftDown) {
  EXPECT_EQ(internal::StatementTimeoutFor(QueryContext{}), 30000);  // no deadline
  const int got = internal::StatementTimeoutFor(WithTimeLeft(milliseconds(1400)));
  EXPECT_EQ(got, 1000);
  EXPECT_LE(internal::StatementTimeoutFor(WithTimeLeft(milliseconds(220))), 200);
  // Just above a step is not enough: the client's clock started earlier than ours.
  EXPECT_EQ(internal::StatementTimeoutFor(WithTimeLeft(milliseconds(1005))), 750);
  const int tiny = internal::StatementTimeoutFor(WithTimeLeft(milliseconds(40)));
  EXPECT_GE(tiny, 1);
  EXPECT_LE(tiny, 40);
}

TEST(WithConnectionTest, RetriesConflictsAndOneLostReadWhileTimeRemains) {
  const auto ctx = WithTimeLeft(std::chrono::seconds(10));
  const absl::Status serialization = StatusFromException(pqxx::sql_error("x", "q", "40001"));
  const absl::Status deadlock = StatusFromException(pqxx::sql_error("x", "q", "40P01"));
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
    EXPECT_EQ(internal::ShouldRetry(c.status, c.connection_lost, c.retry, c.attempt, lost_before, ctx), c.retried)
        << c.status << " attempt " << c.attempt;
  }
  bool lost_before = false;
  EXPECT_FALSE(internal::ShouldRetry(serialization, false, Retry::kNever, 1, lost_before,
                                     WithTimeLeft(milliseconds(-1))));  // no time left
}

TEST(WithConnectionTest, CancellationAndTheDeadlineExplainAFailure) {
  auto ctx = WithTimeLeft(std::chrono::seconds(10));
  const absl::Status lost = absl::UnavailableError("database connection lost");
  EXPECT_EQ(internal::Explain(lost, ctx, /*cut=*/false).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(internal::Explain(lost, ctx, /*cut=*/true).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(internal::Explain(lost, WithTimeLeft(milliseconds(-1)), false).code(),
            absl::StatusCode::kDeadlineExceeded);
  ctx.cancel = std::make_shared<CancelSignal>();
  ctx.cancel->Cancel();
  EXPECT_EQ(internal::Explain(lost, ctx, true).code(), absl::StatusCode::kCancelled);
  EXPECT_NE(std::string(internal::UnknownOutcome().message()).find("same id is safe"), std::string::npos);
}

}  // namespace
}  // namespace docgate::db
