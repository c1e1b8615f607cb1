#pragma once

#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace docgate::db {

// The status code a SQLSTATE maps to: the one table of SPEC "Status codes" for
// database errors. Exact states are looked up first, then the two-character class.
absl::StatusCode CodeForSqlState(std::string_view sqlstate);

// Turns an exception thrown by libpqxx (or anything else) into a Status. The message
// never carries SQL text or server detail; the SQLSTATE rides along as a payload.
//   pqxx::in_doubt_error      UNAVAILABLE: the commit's outcome is unknown
//   pqxx::broken_connection   UNAVAILABLE
//   pqxx::sql_error           CodeForSqlState(sqlstate)
//   anything else             INTERNAL
absl::Status StatusFromException(const std::exception& e);

// The SQLSTATE attached by StatusFromException, if any.
std::optional<std::string> SqlStateOf(const absl::Status& status);

// True when the connection an exception came from can no longer be trusted.
bool LeavesConnectionUnusable(const std::exception& e);

}  // namespace docgate::db
