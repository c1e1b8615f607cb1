#pragma once

#include <pqxx/connection>
#include <pqxx/nontransaction>
#include <pqxx/row>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/store/document.h"
#include "server/store/write_position.h"

// What PgDocumentStore's files share: the columns every read returns, and the
// helpers that read them. Internal to server/store.
namespace docgate::store {

// Every read returns these columns, in this order; a body, when asked for, follows.
inline constexpr char kColumns[] =
    "id::text, name, source_uri, content_type, attributes::text, status, status_detail, version,"
    " (extract(epoch FROM create_time) * 1000000)::int8,"
    " (extract(epoch FROM update_time) * 1000000)::int8,"
    " coalesce(lease_holder, ''), coalesce((extract(epoch FROM lease_expires_at) * 1000000)::int8, 0),"
    " attempts, coalesce(max_attempts, 0), coalesce(last_lease_holder, ''),"
    " coalesce((extract(epoch FROM redeliver_at) * 1000000)::int8, 0)";
// What a statement selects after kColumns: the body (reads that want it), or
// kExisting's "the stored content equals the request's", or RetryFailed's task ids.
inline constexpr int kBodyColumn = 16;
inline constexpr int kSameContentColumn = 16;

inline constexpr int kRetriedTasksColumn = 16;  // RetryFailed's task ids, after kColumns

// The outbox's partition being written to: one read of one row per statement.
#define DOCGATE_TASK_SLOT "(SELECT slot FROM docgate_task_relay)"

// The timeline of a primary's WAL position `lsn` (SQL): the first eight hex digits of
// its WAL file's name. An error on a standby (pg_walfile_name refuses in recovery).
#define DOCGATE_TIMELINE_OF(lsn) "('x' || substr(pg_walfile_name(" lsn "), 1, 8))::bit(32)::int8"

// The primary's WAL position and timeline (prepared with PgDocumentStore's statements).
inline constexpr char kWalPosition[] = "docgate_wal_position";
inline constexpr char kWalPositionSql[] = "SELECT l::text, " DOCGATE_TIMELINE_OF("l") " FROM pg_current_wal_lsn() AS l";

// Selected last by a write: its transaction, and an insert position past a record
// of it and before its commit record (WritePosition). Read by MarkOf.
inline constexpr char kWriteMarks[] = ", pg_current_xact_id()::text, pg_current_wal_insert_lsn()::text";
// Why a move matched nothing: kStatusOf (prepared with PgDocumentStore's statements).
inline constexpr char kStatusOf[] = "docgate_status_of";

// The ids in a string_agg(id::text, ',') ('' for none).
std::vector<std::string> SplitIds(const std::string& ids);

// The primary's WAL position now (after a write that returned: at or past its commit).
uint64_t WalPosition(pqxx::nontransaction& tx);

// `mark` (MarkOf a write's row, or nothing) with the WAL position and timeline read
// now, after that write returned.
WritePosition CommitPosition(pqxx::nontransaction& tx, WritePosition mark = {});

// The transaction and before-commit position a row's last two columns (kWriteMarks) hold.
WritePosition MarkOf(const pqxx::row& row);

// A row of kColumns (and the body after them, when `with_body`).
Document FromRow(const pqxx::row& row, bool with_body);

// The row's state as kStatusOf reads it.
struct RowState {
  DocStatus status;
  int64_t version;
  bool lease_ran_out;  // under a lease whose time has passed
  bool leased;
};
std::optional<RowState> StateOf(pqxx::nontransaction& tx, const std::string& id);

// ABORTED: the caller expected another version.
absl::Status VersionMoved(int64_t expected, int64_t version);

// Prepares the statements of pg_redelivery.cc (leases that run out, retries, tasks).
void PrepareRedeliveryStatements(pqxx::connection& conn);

}  // namespace docgate::store
