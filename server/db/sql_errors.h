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

// The SQLSTATE a libpqxx exception stands for; empty when it is not a server's error.
// libpqxx 6.4 drops it on some types (transaction_rollback and its subclasses are no
// sql_error there; insufficient_privilege comes with an empty one): those are known
// by their type.
std::string SqlStateOfException(const std::exception& e);

// Turns an exception thrown by libpqxx (or anything else) into a Status. The message
// never carries SQL text or server detail; the SQLSTATE rides along as a payload.
//   pqxx::in_doubt_error      UNAVAILABLE: the commit's outcome is unknown
//   pqxx::broken_connection   UNAVAILABLE
//   a statement's completion unknown (40003): as in_doubt_error
//   pqxx::sql_error, pqxx::transaction_rollback   CodeForSqlState(its SQLSTATE)
//   anything else             INTERNAL
absl::Status StatusFromException(const std::exception& e);

// The SQLSTATE attached by StatusFromException, if any.
std::optional<std::string> SqlStateOf(const absl::Status& status);

// True when the connection an exception came from can no longer be trusted.
bool LeavesConnectionUnusable(const std::exception& e);

}  // namespace docgate::db
