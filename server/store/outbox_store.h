#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/db/pool.h"
#include "server/db/with_connection.h"

namespace docgate::store {

// A task waiting in the outbox (table docgate_outbox, written by DocumentStore's
// writes with tasks).
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

struct OutboxBacklog {
  int64_t tasks = 0;
  double oldest_seconds = 0;  // 0 when empty
};

// The outbox's side of delivery. Thread-safe; every call leases one pool connection.
class OutboxStore {
 public:
  explicit OutboxStore(db::Pool& pool) : pool_(pool) {}

  // Told a claimed batch; answers, for each task, whether the broker accepted it.
  using Deliver = std::function<std::vector<bool>(const std::vector<OutboxTask>&)>;

  // In one transaction: claims up to `limit` due tasks, oldest first (FOR UPDATE
  // SKIP LOCKED: other instances claim others at the same time), hands them to
  // `deliver`, deletes those it delivered and puts the others' next attempt off
  // (1 s doubling to 30 s). A crash or a lost connection before COMMIT leaves every
  // claimed task in the outbox, to be delivered again with the same id. Returns how
  // many were claimed.
  absl::StatusOr<size_t> DeliverDue(size_t limit, const Deliver& deliver, const db::QueryContext& ctx);

  absl::StatusOr<OutboxBacklog> Backlog(const db::QueryContext& ctx);

 private:
  db::Pool& pool_;
};

}  // namespace docgate::store
