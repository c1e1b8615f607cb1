#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "server/common/log_limiter.h"
#include "server/common/periodic.h"
#include "server/observability/lease_metrics.h"
#include "server/store/document_store.h"

namespace docgate::leases {

// Returns documents whose lease ran out to PENDING, with their tasks enqueued again
// (DocumentStore::ExpireLeases), every `interval` on a thread of its own: the bound on
// how late an expiry is handled. Every instance runs one; the store's statement
// makes sure each expiry is handled once. `requeued` is called when tasks were
// enqueued (to wake the outbox relay). Stops when destroyed.
class LeaseSweeper {
 public:
  LeaseSweeper(store::DocumentStore& store, std::chrono::milliseconds interval, LeaseMetrics& metrics,
               std::function<void()> requeued);

  // One pass: expires leases until none is left to expire (tests call it directly).
  void SweepNow();

 private:
  store::DocumentStore& store_;
  const std::chrono::milliseconds interval_;
  LeaseMetrics& metrics_;
  const std::function<void()> requeued_;
  LogLimiter failures_{1, std::chrono::seconds(30)};
  std::unique_ptr<Periodic> loop_;  // last: started once the rest is set
};

}  // namespace docgate::leases
