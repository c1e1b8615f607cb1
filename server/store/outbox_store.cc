#include "server/store/outbox_store.h"

#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/store/pg_snapshot.h"

namespace docgate::store {
namespace {

// Where delivery stands: `delivered` (every task whose transaction it sees is
// delivered), and, while a round had more than it could take, the end of that batch
// and the last task of it delivered. A round that starts a batch ends it at the
// snapshot of its own statement.
constexpr char kPositionSql[] =
    "SELECT delivered::text, coalesce(batch_end, pg_current_snapshot())::text, coalesce(after_tx, '0')::text,"
    " coalesce(after_task, '00000000-0000-0000-0000-000000000000')::text FROM docgate_task_relay";

// The tasks of the batch not yet delivered, in commit order: committed within the
// batch's end ($3) and not seen by `delivered`: a transaction from its xmax on
// (past $1, $7: the last one delivered or just before that xmax) or one it saw in
// progress ($2, past the last one delivered, $4, $5). Two index ranges, each with a
// single lower bound (a row comparison and another bound on tx would let the btree
// start at either, even the index's first entry); the visibility test is inside
// each, before its LIMIT.
constexpr char kCandidates[] =
    "(SELECT * FROM docgate_tasks WHERE (tx, task_id) > ($1, $7) AND tx < pg_snapshot_xmax($3)"
    " AND pg_visible_in_snapshot(tx, $3) ORDER BY tx, task_id LIMIT $6)"
    " UNION ALL (SELECT * FROM docgate_tasks WHERE tx = ANY($2::xid8[]) AND (tx > $4 OR (tx = $4 AND task_id > $5))"
    " AND pg_visible_in_snapshot(tx, $3) ORDER BY tx, task_id LIMIT $6)";

// Prepared on every connection of the primary's pool (PrepareStatements).
constexpr char kRound[] = "docgate_outbox_round";
constexpr char kOldest[] = "docgate_outbox_oldest";
constexpr char kAdvance[] = "docgate_outbox_advance";
constexpr char kEstimate[] = "docgate_outbox_estimate";

std::string RoundSql() {
  return absl::StrCat(
      "SELECT task_id::text, document_id::text, task, queue, args, kwargs, countdown_s,"
      " (extract(epoch FROM created_at) * 1000000)::int8, extract(epoch FROM clock_timestamp() - created_at)::float8,"
      " tx::text, slot FROM (",
      kCandidates, ") t ORDER BY t.tx, t.task_id LIMIT $6");  // t.: the columns, not the texts of the output
}

std::string OldestSql() {
  return absl::StrCat("SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM (", kCandidates,
                      ") t");
}

constexpr char kAdvanceSql[] =
    "UPDATE docgate_task_relay SET delivered = $1::pg_snapshot, batch_end = nullif($2, '')::pg_snapshot,"
    " after_tx = nullif($3, '')::xid8, after_task = nullif($4, '')::uuid,"
    " delivered_0 = delivered_0 + $5, delivered_1 = delivered_1 + $6";

// Tasks per partition, from the statistics (no scan), less those delivered since its truncation.
constexpr char kEstimateSql[] =
    "SELECT greatest(0, pg_stat_get_live_tuples('docgate_tasks_0'::regclass) - delivered_0)"
    " + greatest(0, pg_stat_get_live_tuples('docgate_tasks_1'::regclass) - delivered_1) FROM docgate_task_relay";

constexpr char kLockNotAvailable[] = "55P03";

constexpr char kLastUuid[] = "ffffffff-ffff-ffff-ffff-ffffffffffff";

struct Position {
  PgSnapshot delivered;
  std::string delivered_text, batch_end, after_tx, after_task;

  // Where the range of transactions `delivered` had not started goes on from: past
  // the last task delivered when that is in the range, else from the range's start.
  std::pair<std::string, std::string> RangeAfter() const {
    if (std::stoull(after_tx) >= delivered.xmax) return {after_tx, after_task};
    return {std::to_string(delivered.xmax - 1), kLastUuid};
  }
};

// for_update: after taking the row's lock (waiting for another instance's round), in
// the same round trip, so that a batch's end is a snapshot taken after that round.
Position ReadPosition(pqxx::transaction_base& tx, bool for_update) {
  static const std::string locked = absl::StrCat("SELECT 1 FROM docgate_task_relay FOR UPDATE; ", kPositionSql);
  const pqxx::row row = tx.exec1(for_update ? locked : std::string(kPositionSql));
  Position p{
      {}, row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(), row[3].as<std::string>()};
  const auto delivered = ParsePgSnapshot(p.delivered_text);
  if (!delivered.has_value()) throw std::runtime_error("docgate_task_relay.delivered is not a snapshot");
  p.delivered = *delivered;
  return p;
}

pqxx::result Candidates(pqxx::transaction_base& tx, const char* statement, const Position& p, size_t limit) {
  const auto [range_tx, range_task] = p.RangeAfter();
  return tx.exec_prepared(statement, range_tx, p.delivered.InProgressArray(), p.batch_end, p.after_tx, p.after_task,
                          static_cast<int64_t>(limit), range_task);
}

}  // namespace

OutboxTask OutboxTaskFromRow(const pqxx::row& row) {
  return OutboxTask{row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                    row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>(),
                    row[6].as<int32_t>(),     row[7].as<int64_t>(),     row[8].as<double>()};
}

void OutboxStore::PrepareStatements(pqxx::connection& conn) {
  conn.prepare(kRound, RoundSql());
  conn.prepare(kOldest, OldestSql());
  conn.prepare(kAdvance, kAdvanceSql);
  conn.prepare(kEstimate, kEstimateSql);
}

absl::StatusOr<size_t> OutboxStore::DeliverRound(size_t limit, const Deliver& deliver, const db::QueryContext& ctx) {
  return db::WithConnection<size_t>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<size_t> {
        pqxx::work tx(conn, "outbox");
        // This commit only records delivery: lost in a crash, the tasks are delivered
        // again with the same ids, which at-least-once allows. No WAL flush to wait for.
        // The plan is the same for every position: planning it again each round (a
        // custom plan, partitions and all) would cost more than the round itself.
        tx.exec("SET LOCAL synchronous_commit TO off; SET LOCAL plan_cache_mode TO force_generic_plan");
        const Position at = ReadPosition(tx, /*for_update=*/true);
        const pqxx::result rows = Candidates(tx, kRound, at, limit);
        std::vector<OutboxTask> tasks;
        tasks.reserve(rows.size());
        for (pqxx::result::size_type i = 0; i < rows.size(); ++i) tasks.push_back(OutboxTaskFromRow(rows[i]));
        const std::vector<bool> accepted = tasks.empty() ? std::vector<bool>{} : deliver(tasks);
        size_t done = 0;
        int64_t per_slot[2] = {0, 0};
        while (done < tasks.size() && done < accepted.size() && accepted[done]) {
          ++per_slot[rows[done][10].as<int>() == 0 ? 0 : 1];
          ++done;
        }
        const bool batch_ended = done == tasks.size() && tasks.size() < limit;
        if (batch_ended) {
          // Everything the batch's end sees is delivered: it becomes the position.
          if (at.batch_end != at.delivered_text || at.after_tx != "0") {
            tx.exec_prepared(kAdvance, at.batch_end, "", "", "", per_slot[0], per_slot[1]);
          }
        } else if (done > 0) {
          tx.exec_prepared(kAdvance, at.delivered_text, at.batch_end, rows[done - 1][9].as<std::string>(),
                           tasks[done - 1].task_id, per_slot[0], per_slot[1]);
        }
        tx.commit();
        return tasks.size();
      });
}

absl::StatusOr<bool> OutboxStore::Rotate(std::chrono::milliseconds every, const db::QueryContext& ctx) {
  return db::WithConnection<bool>(pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<bool> {
    pqxx::work tx(conn, "outbox_rotate");
    // Lost in a crash, a rotation leaves delivered tasks in place: truncated later.
    tx.exec("SET LOCAL synchronous_commit TO off");
    const pqxx::row row = tx.exec_params1(
        "SELECT slot, now() - rotated_at >= $1 * interval '1 millisecond' FROM docgate_task_relay FOR UPDATE",
        static_cast<int64_t>(every.count()));
    if (!row[1].as<bool>()) return false;
    const int other = row[0].as<int>() == 0 ? 1 : 0;
    const std::string partition = absl::StrCat("docgate_tasks_", other);
    // No writer or reader may hold it while it is checked and truncated; one that
    // does (a write that read the slot before the last rotation) is waited for
    // by trying again later, not here, where every round would wait too.
    try {
      tx.exec(absl::StrCat("LOCK TABLE ", partition, " IN ACCESS EXCLUSIVE MODE NOWAIT"));
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == kLockNotAvailable) return false;
      throw;
    }
    const Position at = ReadPosition(tx, /*for_update=*/false);
    const bool undelivered =
        tx.exec_params1(absl::StrCat("SELECT EXISTS (SELECT 1 FROM ", partition, " WHERE (tx, task_id) > ($1, $2))",
                                     " OR EXISTS (SELECT 1 FROM ", partition, " WHERE tx = ANY($3::xid8[]))"),
                        std::to_string(at.delivered.xmax - 1), kLastUuid, at.delivered.InProgressArray())[0]
            .as<bool>();
    if (undelivered) return false;
    tx.exec(absl::StrCat("TRUNCATE ", partition));
    tx.exec(absl::StrCat("UPDATE docgate_task_relay SET slot = ", other, ", rotated_at = now(), delivered_", other,
                         " = 0"));
    tx.commit();
    return true;
  });
}

absl::StatusOr<OutboxBacklog> OutboxStore::Backlog(const db::QueryContext& ctx) {
  return db::WithConnection<OutboxBacklog>(pool_, ctx, db::Retry::kReadOnce,
                                           [](pqxx::connection& conn) -> absl::StatusOr<OutboxBacklog> {
                                             pqxx::read_transaction tx(conn);
                                             const Position at = ReadPosition(tx, /*for_update=*/false);
                                             OutboxBacklog b;
                                             b.oldest_seconds = Candidates(tx, kOldest, at, 1)[0][0].as<double>();
                                             b.tasks = tx.exec_prepared1(kEstimate)[0].as<int64_t>();
                                             return b;
                                           });
}

}  // namespace docgate::store
