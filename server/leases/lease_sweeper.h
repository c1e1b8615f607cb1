#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

#include "server/common/log_limiter.h"
#include "server/common/periodic.h"
#include "server/leases/redelivery_policy.h"
#include "server/observability/lease_metrics.h"
#include "server/store/document_store.h"

namespace docgate::leases {

// Handles documents whose lease ran out (DocumentStore::ExpireLeases) every
// `interval` on a thread of its own: the bound on how late an expiry is handled.
// Each expiry counts an attempt; `policy` says when a document is dead-lettered
// (FAILED) and how long its re-enqueued tasks wait. Every instance runs one; the
// store's statement makes sure each expiry is handled once. `requeued` is called
// when tasks were enqueued (to wake the outbox relay). Stops when destroyed.
class LeaseSweeper {
 public:
  LeaseSweeper(store::DocumentStore& store, std::chrono::milliseconds interval, RedeliveryPolicy policy,
               LeaseMetrics& metrics, std::function<void()> requeued);

  // One pass: expires leases until none is left to expire (tests call it directly).
  void SweepNow();

  // The policy of the passes from now on (a --config reload); a valid one
  // (PolicyProblem is empty).
  void SetPolicy(const RedeliveryPolicy& policy);

 private:
  store::RedeliveryRules Rules() const;

  store::DocumentStore& store_;
  const std::chrono::milliseconds interval_;
  LeaseMetrics& metrics_;
  const std::function<void()> requeued_;
  mutable std::mutex mu_;
  store::RedeliveryRules rules_;  // guarded by mu_
  LogLimiter failures_{1, std::chrono::seconds(30)};
  std::unique_ptr<Periodic> loop_;  // last: started once the rest is set
};

// The policy as the store's expiry statement takes it.
store::RedeliveryRules RulesOf(const RedeliveryPolicy& policy);

}  // namespace docgate::leases
