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

TEST(SqlErrorsTest, NonDatabaseExceptionIsInternal) {
  EXPECT_EQ(StatusFromException(std::runtime_error("x")).code(), absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace docgate::db
