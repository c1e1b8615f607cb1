#include "server/db/sql_errors.h"

#include <pqxx/except>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"

namespace docgate::db {
namespace {

constexpr char kSqlStatePayload[] = "type.docgate.dev/sqlstate";

struct Mapping {
  std::string_view sqlstate;  // five characters, or a two-character class
  absl::StatusCode code;
};

// Exact states first; a class entry covers every state of that class.
constexpr Mapping kMappings[] = {
    {"40001", absl::StatusCode::kAborted},           // serialization_failure
    {"40P01", absl::StatusCode::kAborted},           // deadlock_detected
    {"57014", absl::StatusCode::kDeadlineExceeded},  // query_canceled (statement_timeout or cancel)
    {"57P01", absl::StatusCode::kUnavailable},       // admin_shutdown
    {"57P02", absl::StatusCode::kUnavailable},       // crash_shutdown
    {"57P03", absl::StatusCode::kUnavailable},       // cannot_connect_now (starting up)
    {"23505", absl::StatusCode::kAlreadyExists},     // unique_violation
    {"08", absl::StatusCode::kUnavailable},          // connection exception
    {"53", absl::StatusCode::kUnavailable},          // insufficient resources (too many connections, disk full)
    {"58", absl::StatusCode::kUnavailable},          // system error (I/O)
    {"28", absl::StatusCode::kUnavailable},          // our own database credentials were refused
    {"25", absl::StatusCode::kInternal},             // invalid transaction state: our bug
    {"22", absl::StatusCode::kInvalidArgument},      // data exception: input validation missed it
    {"23", absl::StatusCode::kFailedPrecondition},   // other integrity constraint
    {"40", absl::StatusCode::kAborted},              // transaction rollback
    {"55", absl::StatusCode::kUnavailable},          // object not in prerequisite state (lock not available)
    {"57", absl::StatusCode::kUnavailable},          // operator intervention
};

const char* Describe(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnavailable: return "database unavailable";
    case absl::StatusCode::kAborted: return "transaction aborted by a conflict; retry";
    case absl::StatusCode::kDeadlineExceeded: return "database statement cancelled by the deadline";
    case absl::StatusCode::kAlreadyExists: return "already exists";
    case absl::StatusCode::kInvalidArgument: return "the database rejected a value";
    case absl::StatusCode::kFailedPrecondition: return "a database constraint refused the change";
    default: return "database error";
  }
}

absl::Status WithSqlState(absl::Status status, const std::string& sqlstate) {
  if (!sqlstate.empty()) status.SetPayload(kSqlStatePayload, absl::Cord(sqlstate));
  return status;
}

bool IsServerError(const std::exception& e) {
  return dynamic_cast<const pqxx::sql_error*>(&e) != nullptr ||
         dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr;
}

}  // namespace

absl::StatusCode CodeForSqlState(std::string_view sqlstate) {
  for (const auto& m : kMappings) {
    if (m.sqlstate.size() == 5 && m.sqlstate == sqlstate) return m.code;
  }
  for (const auto& m : kMappings) {
    if (m.sqlstate.size() == 2 && sqlstate.substr(0, 2) == m.sqlstate) return m.code;
  }
  return absl::StatusCode::kInternal;
}

std::string SqlStateOfException(const std::exception& e) {
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr) return "40001";
  if (dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) return "40P01";
  if (dynamic_cast<const pqxx::statement_completion_unknown*>(&e) != nullptr) return "40003";
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) return "40000";
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  if (sql == nullptr) return "";
  if (!sql->sqlstate().empty()) return sql->sqlstate();
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) return "42501";
  return "";
}

absl::Status StatusFromException(const std::exception& e) {
  // Order matters: in_doubt_error and broken_connection are not sql_errors, but
  // check the most specific first all the same.
  const std::string state = SqlStateOfException(e);
  // Creates are idempotent by id, so "unknown" is safe to report as retryable.
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(
        "connection lost during commit: the outcome is unknown; retrying with the same id is safe");
  }
  if (state == "40003") {
    return WithSqlState(absl::UnavailableError("the statement's outcome is unknown; retrying with the same id is safe"),
                        state);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return WithSqlState(absl::UnavailableError("database connection lost"), "08006");
  }
  if (IsServerError(e)) {
    const absl::StatusCode code = CodeForSqlState(state);
    return WithSqlState(absl::Status(code, Describe(code)), state);
  }
  return absl::InternalError("database client error");
}

std::optional<std::string> SqlStateOf(const absl::Status& status) {
  auto payload = status.GetPayload(kSqlStatePayload);
  if (!payload.has_value()) return std::nullopt;
  return std::string(*payload);
}

bool LeavesConnectionUnusable(const std::exception& e) {
  // A server-reported SQL error leaves the connection usable: libpqxx rolled the
  // transaction back. Anything else (a lost connection, a client-side failure) may not.
  if (IsServerError(e)) {
    const std::string state = SqlStateOfException(e);
    return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0;
  }
  return true;
}

}  // namespace docgate::db
