#include "server/store/legacy_outbox_store.h"

#include <pqxx/result>
#include <pqxx/transaction>

#include "server/store/pg_array.h"

namespace docgate::store {
namespace {

constexpr char kClaimSql[] =
    "SELECT task_id::text, document_id::text, task, queue, args::text, kwargs::text, countdown_s,"
    " (extract(epoch FROM created_at) * 1000000)::int8, extract(epoch FROM clock_timestamp() - created_at)::float8"
    " FROM docgate_outbox WHERE next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1"
    " FOR UPDATE SKIP LOCKED";
constexpr char kDeleteSql[] = "DELETE FROM docgate_outbox WHERE task_id = ANY($1::uuid[])";
constexpr char kPutOffSql[] =
    "UPDATE docgate_outbox SET attempts = attempts + 1,"
    " next_attempt_at = now() + least(interval '1 second' * power(2, least(attempts, 5)), interval '30 seconds')"
    " WHERE task_id = ANY($1::uuid[])";

}  // namespace

absl::StatusOr<size_t> LegacyOutboxStore::DeliverDue(size_t limit, const Deliver& deliver,
                                                     const db::QueryContext& ctx) {
  return db::WithConnection<size_t>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<size_t> {
        pqxx::work tx(conn, "outbox");
        // This commit only forgets delivered tasks: lost in a crash, they are delivered
        // again with the same id, which at-least-once allows. No WAL flush to wait for.
        tx.exec("SET LOCAL synchronous_commit TO off");
        const pqxx::result rows = tx.exec_params(kClaimSql, static_cast<int64_t>(limit));
        if (rows.empty()) return size_t{0};
        std::vector<OutboxTask> tasks;
        tasks.reserve(rows.size());
        for (pqxx::result::size_type i = 0; i < rows.size(); ++i) tasks.push_back(OutboxTaskFromRow(rows[i]));
        const std::vector<bool> delivered = deliver(tasks);
        std::vector<std::string_view> done, again;
        for (size_t i = 0; i < tasks.size(); ++i) {
          (i < delivered.size() && delivered[i] ? done : again).push_back(tasks[i].task_id);
        }
        if (!done.empty()) tx.exec_params(kDeleteSql, ArrayLiteral(done));
        if (!again.empty()) tx.exec_params(kPutOffSql, ArrayLiteral(again));
        tx.commit();
        return tasks.size();
      });
}

}  // namespace docgate::store
