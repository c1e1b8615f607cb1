#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <pqxx/row>

#include "absl/status/statusor.h"
#include "server/db/pool.h"
#include "server/db/with_connection.h"

namespace docgate::store {

// A task waiting in the outbox, as the relay is given it.
struct OutboxTask {
  std::string task_id;
  std::string document_id;
  std::string task;
  std::string queue;
  std::string args_json;
  std::string kwargs_json;
  int32_t countdown_seconds = 0;
  int64_t created_at_us = 0;  // the commit's time (database clock), microseconds since the epoch
  double age_seconds = 0;     // how long it has waited, when claimed
};

// A task as both outboxes select it, from column `first` on: task_id, document_id,
// task, queue, args, kwargs (texts), countdown_s, created_at in microseconds, age in
// seconds; more columns may follow.
OutboxTask OutboxTaskFromRow(const pqxx::row& row, int first = 0);

struct OutboxBacklog {
  int64_t tasks = 0;          // an estimate: PostgreSQL's row statistics, a second or so behind
  double oldest_seconds = 0;  // exact; 0 when none waits
};

// The outbox (schema 5): docgate_tasks, written by DocumentStore's writes with tasks in
// their own statement, and read here in commit order. Nothing is written per task
// once it is delivered: one row, docgate_task_relay, records how far delivery has
// got as a PostgreSQL snapshot (every task whose transaction that snapshot sees is
// delivered, the others are not), the way PgQ tracks its consumers. The table is
// two partitions used in turn; one that holds only delivered tasks is truncated
// (Rotate), so it holds no dead rows and never needs a VACUUM.
//
// Rounds of every instance take docgate_task_relay's row lock, so they follow each
// other: a task is never handed to two relays at once. Thread-safe; every call
// leases one pool connection.
class OutboxStore {
 public:
  explicit OutboxStore(db::Pool& pool) : pool_(pool) {}

  // Every connection of the pool this store is given must have these.
  static void PrepareStatements(pqxx::connection& conn);

  // Told a batch, in order; answers, for each task, whether the broker accepted it.
  // Only the accepted tasks before the first refused one count as delivered.
  using Deliver = std::function<std::vector<bool>(const std::vector<OutboxTask>&)>;

  // One round, in one transaction: up to `limit` tasks past the recorded position,
  // in commit order, handed to `deliver`, and the position moved past those it
  // delivered. A crash or a lost connection before COMMIT leaves the position where
  // it was: those tasks are delivered again, with the same ids. Returns how many
  // were handed over (fewer than `limit`: none was left, as of this round).
  absl::StatusOr<size_t> DeliverRound(size_t limit, const Deliver& deliver, const db::QueryContext& ctx);

  // When the partition written to has been written to for `every` or longer and the
  // other holds only delivered tasks: truncates the other and writes to it from now
  // on. Returns whether it did; false, not an error, while a task in the other is
  // undelivered or a transaction still holds it.
  absl::StatusOr<bool> Rotate(std::chrono::milliseconds every, const db::QueryContext& ctx);

  // No scan: the oldest waiting task through the index, the count from statistics.
  absl::StatusOr<OutboxBacklog> Backlog(const db::QueryContext& ctx);

 private:
  db::Pool& pool_;
};

}  // namespace docgate::store
