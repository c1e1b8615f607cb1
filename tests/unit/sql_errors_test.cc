#include "server/db/sql_errors.h"

#include <gtest/gtest.h>
#include <pqxx/except>

namespace docgate::db {
namespace {

TEST(SqlErrorsTest, MapsSqlStatesBySpecTable) {
  struct Case {
    const char* sqlstate;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"40001", absl::StatusCode::kAborted},
      {"40P01", absl::StatusCode::kAborted},
      {"57014", absl::StatusCode::kDeadlineExceeded},
      {"57P01", absl::StatusCode::kUnavailable},
      {"57P03", absl::StatusCode::kUnavailable},
      {"08006", absl::StatusCode::kUnavailable},
      {"08001", absl::StatusCode::kUnavailable},
      {"53300", absl::StatusCode::kUnavailable},
      {"28P01", absl::StatusCode::kUnavailable},
      {"23505", absl::StatusCode::kAlreadyExists},
      {"23503", absl::StatusCode::kFailedPrecondition},
      {"22021", absl::StatusCode::kInvalidArgument},
      {"42P01", absl::StatusCode::kInternal},
      {"XX000", absl::StatusCode::kInternal},
      {"", absl::StatusCode::kInternal},
  };
  for (const auto& c : cases) EXPECT_EQ(CodeForSqlState(c.sqlstate), c.code) << c.sqlstate;
}

TEST(SqlErrorsTest, NeverLeaksQueryTextAndKeepsSqlState) {
  const pqxx::sql_error error("ERROR: secret detail", "SELECT password FROM users", "42501");
  const absl::Status status = StatusFromException(error);
  EXPECT_EQ(std::string(status.message()).find("SELECT"), std::string::npos);
  EXPECT_EQ(std::string(status.message()).find("secret"), std::string::npos);
  EXPECT_EQ(SqlStateOf(status).value_or(""), "42501");
}

TEST(SqlErrorsTest, UnknownCommitOutcomeIsRetryableAndSaysSo) {
  const absl::Status status = StatusFromException(pqxx::in_doubt_error("lost"));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(status.message()).find("same id is safe"), std::string::npos);
}

TEST(SqlErrorsTest, BrokenConnectionIsUnavailableAndUnusable) {
  const pqxx::broken_connection error("gone");
  EXPECT_EQ(StatusFromException(error).code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(LeavesConnectionUnusable(error));
  EXPECT_FALSE(LeavesConnectionUnusable(pqxx::sql_error("x", "q", "40001")));
  EXPECT_TRUE(LeavesConnectionUnusable(pqxx::sql_error("x", "q", "57P01")));
}

// The types libpqxx 6.4 throws for these states, as it throws them (checked against
// PostgreSQL 15 with RAISE ... USING ERRCODE): a transaction_rollback is no sql_error
// and carries no state, and insufficient_privilege comes with an empty one. A
// deadlock was INTERNAL and never retried before they were known by their type.
TEST(SqlErrorsTest, KnowsTheStatesLibpqxxDropsByTheirType) {
  const pqxx::serialization_failure serialization("ERROR:  could not serialize access");
  const pqxx::deadlock_detected deadlock("ERROR:  deadlock detected");
  const pqxx::transaction_rollback rollback("ERROR:  40002");
  const pqxx::insufficient_privilege privilege("ERROR:  permission denied", "SELECT 1");
  EXPECT_EQ(StatusFromException(serialization).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(SqlStateOf(StatusFromException(serialization)).value_or(""), "40001");
  EXPECT_EQ(StatusFromException(deadlock).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(SqlStateOf(StatusFromException(deadlock)).value_or(""), "40P01");
  EXPECT_EQ(StatusFromException(rollback).code(), absl::StatusCode::kAborted);
  EXPECT_EQ(SqlStateOfException(privilege), "42501");
  EXPECT_FALSE(LeavesConnectionUnusable(deadlock));
  EXPECT_FALSE(LeavesConnectionUnusable(privilege));

  const absl::Status unknown = StatusFromException(pqxx::statement_completion_unknown("ERROR:  40003"));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(unknown.message()).find("same id is safe"), std::string::npos);
  EXPECT_EQ(SqlStateOfException(std::runtime_error("x")), "");
}

TEST(SqlErrorsTest, NonDatabaseExceptionIsInternal) {
  EXPECT_EQ(StatusFromException(std::runtime_error("x")).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace docgate::db
