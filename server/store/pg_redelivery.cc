#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "absl/strings/str_cat.h"
#include "server/store/pg_array.h"
#include "server/store/pg_document_store.h"
#include "server/store/pg_rows.h"
#include "server/store/status_moves.h"

// PgDocumentStore's poison-document statements (#32): leases that run out, the
// operator's retry, and a document's tasks.
namespace docgate::store {
namespace {

// The tasks kept for a document `d` (on the row; in docgate_requeue when an earlier
// version wrote them), as records: the FROM items of a re-enqueue.
#define DOCGATE_KEPT_TASKS(d)                          \
  " LEFT JOIN docgate_requeue r ON r.document_id = " d \
  ".id,"                                               \
  " jsonb_to_recordset(coalesce(" d                    \
  ".requeue_tasks::jsonb, r.tasks, '[]'))"             \
  " AS t(task text, queue text, args jsonb, kwargs jsonb, countdown_s int)"
#define DOCGATE_REQUEUE_INTO                                                                       \
  "INSERT INTO docgate_tasks (slot, task_id, document_id, task, queue, args, kwargs, countdown_s)" \
  " SELECT " DOCGATE_TASK_SLOT ", gen_random_uuid(), "

// Up to $1 documents whose lease ran out count one more attempt. One that reaches
// its bound (its own max_attempts, else $2) goes to FAILED and enqueues nothing;
// the others go back to PENDING with their kept tasks enqueued again with new ids,
// due $3[attempt] seconds later (the last entry for later attempts). Either way
// version + 1, a status_detail saying why, the lease's holder kept as the last.
// Rows another transaction holds (an instance expiring them, a holder renewing) are
// skipped (SKIP LOCKED); FOR UPDATE re-checks the condition on the row version it
// locks (a renewal committed meanwhile takes the row out), and the rows stay locked
// until the move: each expiry is handled once, by one instance.
constexpr char kExpireLeases[] = "docgate_expire_leases";
#define DOCGATE_ATTEMPT "(d.attempts + 1)"
#define DOCGATE_DEAD DOCGATE_ATTEMPT " >= coalesce(d.max_attempts, $2::int4)"
#define DOCGATE_HOLDER "coalesce(nullif(d.lease_holder, ''), 'a worker')"
constexpr char kExpireLeasesSql[] =
    "WITH expired AS (SELECT id FROM documents WHERE lease_expires_at <= now() AND status = 2"
    " ORDER BY lease_expires_at LIMIT $1 FOR UPDATE SKIP LOCKED),"
    " moved AS (UPDATE documents d SET attempts = " DOCGATE_ATTEMPT ", version = d.version + 1, update_time = now(),"
    " status = CASE WHEN " DOCGATE_DEAD " THEN 4 ELSE 1 END,"
    " status_detail = CASE WHEN " DOCGATE_DEAD " THEN 'lease expired ' || " DOCGATE_ATTEMPT
    " || ' times; last holder ' || " DOCGATE_HOLDER " || '; FAILED, its tasks not enqueued again'"
    " ELSE 'the lease of ' || " DOCGATE_HOLDER " || ' ran out before it finished (attempt ' || " DOCGATE_ATTEMPT
    " || ' of ' || coalesce(d.max_attempts, $2::int4) || '); back to PENDING' END,"
    " redeliver_at = CASE WHEN " DOCGATE_DEAD " THEN NULL ELSE now() + interval '1 second' *"
    " ($3::int4[])[least(" DOCGATE_ATTEMPT ", cardinality($3::int4[]))] END,"
    " last_lease_holder = " DOCGATE_HOLDER ", lease_holder = NULL, lease_expires_at = NULL"
    " FROM expired WHERE d.id = expired.id"
    " RETURNING d.id, d.status, d.requeue_tasks,"
    " ($3::int4[])[least(d.attempts, cardinality($3::int4[]))] AS delay_s),"
    " requeued AS (" DOCGATE_REQUEUE_INTO "moved.id, t.task, t.queue, t.args::text, t.kwargs::text,"
    " t.countdown_s + moved.delay_s FROM moved" DOCGATE_KEPT_TASKS("moved") " WHERE moved.status = 1 RETURNING 1)"
    " SELECT (SELECT count(*) FROM moved), (SELECT count(*) FROM requeued),"
    " (SELECT count(*) FROM documents WHERE lease_expires_at IS NOT NULL),"
    " (SELECT coalesce(string_agg(id::text, ','), '') FROM moved WHERE status = 4)";

// RetryFailed: a FAILED document ($1, at version $2 unless 0) back to PENDING, its
// attempts reset when $3, and its kept tasks enqueued again at once with new ids,
// whose ids the statement returns after kColumns.
constexpr char kRetryFailed[] = "docgate_retry_failed";
constexpr char kRetryFailedSql[] =
    "WITH upd AS (UPDATE documents SET status = 1, status_detail = $4, version = version + 1, update_time = now(),"
    " attempts = CASE WHEN $3::bool THEN 0 ELSE attempts END, redeliver_at = NULL"
    " WHERE id = $1 AND status = 4 AND ($2::int8 = 0 OR version = $2) RETURNING *),"
    " tasks AS (" DOCGATE_REQUEUE_INTO "upd.id, t.task, t.queue, t.args::text, t.kwargs::text, t.countdown_s"
    " FROM upd" DOCGATE_KEPT_TASKS("upd") " RETURNING task_id)"
    " SELECT ";
constexpr char kRetriedTasks[] = ", (SELECT coalesce(string_agg(task_id::text, ','), '') FROM tasks)";

// What an operator sees of a document's tasks: those waiting in the outbox (a scan
// of it: the outbox holds seconds' worth of tasks), and those kept on the row.
constexpr char kWaitingTasks[] = "docgate_waiting_tasks_of";
constexpr char kWaitingTasksSql[] =
    "SELECT task_id::text, task, queue, args, kwargs, countdown_s,"
    " (extract(epoch FROM created_at) * 1000000)::int8 FROM docgate_waiting_tasks"
    " WHERE document_id = $1 ORDER BY created_at, task_id LIMIT $2";
constexpr char kKeptTasks[] = "docgate_kept_tasks_of";
constexpr char kKeptTasksSql[] =
    "SELECT t.task, t.queue, t.args::text, t.kwargs::text, t.countdown_s FROM documents d" DOCGATE_KEPT_TASKS(
        "d") " WHERE d.id = $1";

}  // namespace

void PrepareRedeliveryStatements(pqxx::connection& conn) {
  conn.prepare(kExpireLeases, kExpireLeasesSql);
  conn.prepare(kRetryFailed, absl::StrCat(kRetryFailedSql, kColumns, kRetriedTasks, kWriteMarks, " FROM upd"));
  conn.prepare(kWaitingTasks, kWaitingTasksSql);
  conn.prepare(kKeptTasks, kKeptTasksSql);
}

absl::StatusOr<LeaseSweep> PgDocumentStore::ExpireLeases(int limit, const RedeliveryRules& rules,
                                                         const db::QueryContext& ctx) {
  std::vector<std::string> delays;
  for (int d : rules.delays_s) delays.push_back(std::to_string(d));
  const std::string delay_array = ArrayLiteral(delays);
  return db::WithConnection<LeaseSweep>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<LeaseSweep> {
        pqxx::nontransaction tx(conn);
        const pqxx::row r = tx.exec_prepared1(kExpireLeases, limit, rules.max_attempts, delay_array);
        LeaseSweep sweep{r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<int64_t>(), {}};
        sweep.dead_lettered = SplitIds(r[3].as<std::string>());
        return sweep;
      });
}

absl::StatusOr<RetryResult> PgDocumentStore::RetryFailed(const RetryMove& retry, const db::QueryContext& ctx) {
  return db::WithConnection<RetryResult>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<RetryResult> {
        pqxx::nontransaction tx(conn);
        for (int attempt = 0; attempt < 3; ++attempt) {
          const pqxx::result r = tx.exec_prepared(kRetryFailed, retry.id, retry.expected_version, retry.reset_attempts,
                                                  retry.status_detail);
          if (!r.empty()) {
            return RetryResult{FromRow(r[0], false), SplitIds(r[0][kRetriedTasksColumn].as<std::string>()),
                               CommitPosition(tx, MarkOf(r[0]))};
          }
          const auto row = StateOf(tx, retry.id);
          if (!row.has_value()) return absl::NotFoundError("no document has this id");
          if (retry.expected_version > 0 && row->version != retry.expected_version) {
            return VersionMoved(retry.expected_version, row->version);
          }
          if (row->status != DocStatus::kFailed) {
            return absl::FailedPreconditionError(
                absl::StrCat("only a FAILED document is retried; this one is ", StatusName(row->status)));
          }
        }
        return absl::AbortedError("the document kept changing; retry");
      });
}

absl::StatusOr<DocumentTasks> PgDocumentStore::Tasks(const std::string& id, int limit, const db::QueryContext& ctx) {
  return db::WithConnection<DocumentTasks>(
      pool_, ctx, db::Retry::kReadOnce, [&](pqxx::connection& conn) -> absl::StatusOr<DocumentTasks> {
        pqxx::nontransaction tx(conn);
        const pqxx::result kept = tx.exec_prepared(kKeptTasks, id);
        if (kept.empty() && !StateOf(tx, id).has_value()) return absl::NotFoundError("no document has this id");
        DocumentTasks out;
        for (pqxx::result::size_type i = 0; i < kept.size(); ++i) {
          const pqxx::row row = kept[i];
          out.remembered.push_back(Task{"", row[0].as<std::string>(), row[1].as<std::string>(),
                                        row[2].as<std::string>(), row[3].as<std::string>(), row[4].as<int32_t>()});
        }
        const pqxx::result waiting = tx.exec_prepared(kWaitingTasks, id, limit);
        for (pqxx::result::size_type i = 0; i < waiting.size(); ++i) {
          const pqxx::row row = waiting[i];
          out.waiting.push_back(
              WaitingTask{Task{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                               row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<int32_t>()},
                          row[6].as<int64_t>()});
        }
        return out;
      });
}

}  // namespace docgate::store
