#pragma once

#include <cstddef>

#include "absl/status/statusor.h"
#include "server/db/pool.h"
#include "server/db/with_connection.h"
#include "server/store/outbox_store.h"

namespace docgate::store {

// The outbox of schema 3 and 4 (table docgate_outbox): since schema 5 it is written
// only by docgate instances of an earlier version during a rolling upgrade (or left
// with the tasks of one that crashed), and drained here until it is empty. Its
// tasks move to docgate_tasks at the migration. Thread-safe; every call leases one
// pool connection.
class LegacyOutboxStore {
 public:
  explicit LegacyOutboxStore(db::Pool& pool) : pool_(pool) {}

  // Told a claimed batch; answers, for each task, whether the broker accepted it.
  using Deliver = OutboxStore::Deliver;

  // In one transaction: claims up to `limit` due tasks, oldest first (FOR UPDATE
  // SKIP LOCKED: other instances claim others at the same time), hands them to
  // `deliver`, deletes those it delivered and puts the others' next attempt off
  // (1 s doubling to 30 s). A crash or a lost connection before COMMIT leaves every
  // claimed task in the outbox, to be delivered again with the same id. Returns how
  // many were claimed.
  absl::StatusOr<size_t> DeliverDue(size_t limit, const Deliver& deliver, const db::QueryContext& ctx);

 private:
  db::Pool& pool_;
};

}  // namespace docgate::store
