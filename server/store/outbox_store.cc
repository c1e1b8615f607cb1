#include "server/store/outbox_store.h"

#include <pqxx/except>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace docgate::store {
namespace {

// Where delivery stands, read from docgate_task_relay by the statement that uses it:
// `delivered` (every task whose transaction it sees is delivered), and, while a round
// had more than it could take, the end of that batch and the last task of it
// delivered. A round that starts a batch ends it at its own statement's snapshot.
// The range of transactions `delivered` had not started goes on from the last task
// delivered when that is in the range, else from the range's start.
constexpr char kPositionCte[] =
    "WITH at AS (SELECT delivered, coalesce(batch_end, pg_current_snapshot()) AS batch_end,"
    " coalesce(after_tx, '0') AS after_tx,"
    " coalesce(after_task, '00000000-0000-0000-0000-000000000000') AS after_task,"
    " (pg_snapshot_xmax(delivered)::text::int8 - 1)::text::xid8 AS before_range FROM docgate_task_relay),"
    " r AS (SELECT at.*, greatest(after_tx, before_range) AS range_tx,"
    " CASE WHEN after_tx >= before_range THEN after_task ELSE 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid END"
    " AS range_task, ARRAY(SELECT pg_snapshot_xip(at.delivered)) AS in_progress FROM at) ";

// The tasks of the batch not yet delivered, in commit order, at most $1: committed
// within the batch's end and not seen by `delivered`: a transaction of the range it
// had not started, or one it saw in progress (past the last one delivered). Two
// index ranges, each with a single lower bound (a row comparison and another bound
// on tx would let the btree start at either, even the index's first entry); the
// visibility test is inside each, before its LIMIT. Joined LATERAL to r, so its
// bounds are the position's columns and a round has one row even when none waits.
constexpr char kCandidatesOfR[] =
    "(SELECT * FROM docgate_tasks t WHERE (t.tx, t.task_id) > (r.range_tx, r.range_task)"
    " AND t.tx < pg_snapshot_xmax(r.batch_end) AND pg_visible_in_snapshot(t.tx, r.batch_end)"
    " ORDER BY t.tx, t.task_id LIMIT $1)"
    " UNION ALL (SELECT * FROM docgate_tasks t WHERE t.tx = ANY(r.in_progress)"
    " AND (t.tx > r.after_tx OR (t.tx = r.after_tx AND t.task_id > r.after_task))"
    " AND pg_visible_in_snapshot(t.tx, r.batch_end) ORDER BY t.tx, t.task_id LIMIT $1)";

// Prepared on every connection of the primary's pool (PrepareStatements).
constexpr char kRound[] = "docgate_outbox_round";
constexpr char kOldest[] = "docgate_outbox_oldest";
constexpr char kAdvance[] = "docgate_outbox_advance";
constexpr char kEstimate[] = "docgate_outbox_estimate";
constexpr char kUndelivered[] = "docgate_outbox_undelivered_";  // and the partition's number

// The position (4 columns), then the tasks (OutboxTaskFromRow's columns, tx, slot);
// one row with the task's columns null when none waits.
constexpr int kFirstTaskColumn = 4;
std::string RoundSql() {
  return absl::StrCat(kPositionCte,
                      "SELECT r.delivered::text, r.batch_end::text, r.after_tx::text, r.after_task::text,"
                      " c.task_id::text, c.document_id::text, c.task, c.queue, c.args, c.kwargs, c.countdown_s,"
                      " (extract(epoch FROM c.created_at) * 1000000)::int8,"
                      " extract(epoch FROM clock_timestamp() - c.created_at)::float8, c.tx::text, c.slot"
                      " FROM r LEFT JOIN LATERAL (",
                      kCandidatesOfR, " ORDER BY 2, 3 LIMIT $1) c ON true ORDER BY c.tx, c.task_id");
}

std::string OldestSql() {
  return absl::StrCat(kPositionCte, "SELECT coalesce(extract(epoch FROM now() - min(c.created_at)), 0)::float8",
                      " FROM r LEFT JOIN LATERAL (", kCandidatesOfR, ") c ON true");
}

// Whether partition `n` holds a task `delivered` does not see.
std::string UndeliveredSql(int n) {
  const std::string partition = absl::StrCat("docgate_tasks_", n);
  return absl::StrCat(kPositionCte, "SELECT EXISTS (SELECT 1 FROM ", partition,
                      " t WHERE (t.tx, t.task_id) > (r.before_range, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))",
                      " OR EXISTS (SELECT 1 FROM ", partition, " t WHERE t.tx = ANY(r.in_progress)) FROM r");
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

// A round's transaction block, driven by hand so that its statements share round
// trips: BEGIN, the settings, the row lock (waiting for another instance's round) and
// the read go in one, the position's move and COMMIT in another. Rolled back when a
// round ends otherwise; a connection that cannot say ROLLBACK is reported broken, so
// that it is never reused in a transaction.
class RoundBlock {
 public:
  explicit RoundBlock(pqxx::connection& conn) : tx_(conn, "outbox") {}
  RoundBlock(const RoundBlock&) = delete;
  RoundBlock& operator=(const RoundBlock&) = delete;

  pqxx::result Begin(size_t limit) {
    // This commit only records delivery: lost in a crash, the tasks are delivered
    // again with the same ids, which at-least-once allows. No WAL flush to wait for.
    // The plan is the same for every limit: planning it again each round (a custom
    // plan, partitions and all) would cost more than the round itself.
    open_ = true;
    return tx_.exec(
        absl::StrCat("BEGIN; SET LOCAL synchronous_commit TO off; SET LOCAL plan_cache_mode TO force_generic_plan;"
                     " SELECT 1 FROM docgate_task_relay FOR UPDATE; EXECUTE ",
                     kRound, "(", limit, ")"));
  }

  // `before` (may be empty) runs in the same round trip as the COMMIT.
  void Commit(const std::string& before) {
    tx_.exec(before.empty() ? std::string("COMMIT") : absl::StrCat(before, "; COMMIT"));
    open_ = false;
  }

  std::string Quote(const std::string& text) { return tx_.quote(text); }

  // Called on the way out of a failed round: the block must not outlive it.
  void RollBack() noexcept(false) {
    if (!open_) return;
    open_ = false;
    try {
      tx_.exec("ROLLBACK");
    } catch (const std::exception&) {
      throw pqxx::broken_connection("the outbox round's transaction could not be rolled back");
    }
  }

 private:
  pqxx::nontransaction tx_;
  bool open_ = false;
};

}  // namespace

OutboxTask OutboxTaskFromRow(const pqxx::row& row, int first) {
  return OutboxTask{
      row[first].as<std::string>(),     row[first + 1].as<std::string>(), row[first + 2].as<std::string>(),
      row[first + 3].as<std::string>(), row[first + 4].as<std::string>(), row[first + 5].as<std::string>(),
      row[first + 6].as<int32_t>(),     row[first + 7].as<int64_t>(),     row[first + 8].as<double>()};
}

void OutboxStore::PrepareStatements(pqxx::connection& conn) {
  // The round's two run by SQL EXECUTE, inside multi-statement round trips: made in
  // PostgreSQL now (libpqxx makes its own at their first use, too late for that).
  pqxx::nontransaction tx(conn);
  tx.exec(absl::StrCat("PREPARE ", kRound, " (int8) AS ", RoundSql()));
  tx.exec(absl::StrCat("PREPARE ", kAdvance, " (text, text, text, text, int8, int8) AS ", kAdvanceSql));
  tx.commit();
  conn.prepare(kOldest, OldestSql());
  conn.prepare(kEstimate, kEstimateSql);
  for (int n : {0, 1}) conn.prepare(absl::StrCat(kUndelivered, n), UndeliveredSql(n));
}

absl::StatusOr<size_t> OutboxStore::DeliverRound(size_t limit, const Deliver& deliver, const db::QueryContext& ctx) {
  return db::WithConnection<size_t>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<size_t> {
        RoundBlock block(conn);
        try {
          const pqxx::result rows = block.Begin(limit);
          const pqxx::row at = rows.at(0);
          const std::string delivered = at[0].as<std::string>(), batch_end = at[1].as<std::string>();
          const std::string after_tx = at[2].as<std::string>();
          const bool none = at[kFirstTaskColumn].is_null();
          std::vector<OutboxTask> tasks;
          tasks.reserve(none ? 0 : rows.size());
          for (pqxx::result::size_type i = 0; !none && i < rows.size(); ++i) {
            tasks.push_back(OutboxTaskFromRow(rows[i], kFirstTaskColumn));
          }
          const std::vector<bool> accepted = tasks.empty() ? std::vector<bool>{} : deliver(tasks);
          size_t done = 0;
          int64_t per_slot[2] = {0, 0};
          while (done < tasks.size() && done < accepted.size() && accepted[done]) {
            ++per_slot[rows[done][kFirstTaskColumn + 10].as<int>() == 0 ? 0 : 1];
            ++done;
          }
          const auto advance = [&](const std::string& to, const std::string& end, const std::string& last_tx,
                                   const std::string& last_task) {
            return absl::StrCat("EXECUTE ", kAdvance, "(", block.Quote(to), ", ", block.Quote(end), ", ",
                                block.Quote(last_tx), ", ", block.Quote(last_task), ", ", per_slot[0], ", ",
                                per_slot[1], ")");
          };
          std::string move;
          if (done == tasks.size() && tasks.size() < limit) {
            // Everything the batch's end sees is delivered: it becomes the position.
            if (batch_end != delivered || after_tx != "0") move = advance(batch_end, "", "", "");
          } else if (done > 0) {
            move = advance(delivered, batch_end, rows[done - 1][kFirstTaskColumn + 9].as<std::string>(),
                           tasks[done - 1].task_id);
          }
          block.Commit(move);
          return tasks.size();
        } catch (...) {
          block.RollBack();
          throw;
        }
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
    if (tx.exec_prepared1(absl::StrCat(kUndelivered, other))[0].as<bool>()) return false;
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
                                             OutboxBacklog b;
                                             b.oldest_seconds = tx.exec_prepared1(kOldest, int64_t{1})[0].as<double>();
                                             b.tasks = tx.exec_prepared1(kEstimate)[0].as<int64_t>();
                                             return b;
                                           });
}

}  // namespace docgate::store
