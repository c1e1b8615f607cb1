#include "server/leases/lease_sweeper.h"

#include "spdlog/spdlog.h"

namespace docgate::leases {
namespace {

// Documents one statement returns to PENDING (rows it holds locked meanwhile).
constexpr int kBatch = 100;
// One statement's bound: against a frozen database a pass gives up after this, so
// that it never holds a shutdown longer.
constexpr auto kPassTimeout = std::chrono::seconds(5);

}  // namespace

store::RedeliveryRules RulesOf(const RedeliveryPolicy& policy) {
  return store::RedeliveryRules{policy.max_attempts, RedeliveryDelays(policy)};
}

LeaseSweeper::LeaseSweeper(store::DocumentStore& store, std::chrono::milliseconds interval, RedeliveryPolicy policy,
                           LeaseMetrics& metrics, std::function<void()> requeued)
    : store_(store),
      interval_(interval),
      metrics_(metrics),
      requeued_(std::move(requeued)),
      rules_(RulesOf(policy)),
      loop_(std::make_unique<Periodic>(interval, [this] { SweepNow(); })) {}

void LeaseSweeper::SetPolicy(const RedeliveryPolicy& policy) {
  auto rules = RulesOf(policy);
  std::lock_guard lock(mu_);
  rules_ = std::move(rules);
}

store::RedeliveryRules LeaseSweeper::Rules() const {
  std::lock_guard lock(mu_);
  return rules_;
}

void LeaseSweeper::SweepNow() {
  while (true) {
    db::QueryContext ctx;
    ctx.deadline = Clock::Real().Now() + kPassTimeout;
    ctx.acquire_by = ctx.deadline;
    const auto pass = store_.ExpireLeases(kBatch, Rules(), ctx);
    if (!pass.ok()) {
      uint64_t suppressed = 0;
      if (failures_.Allow(suppressed)) {
        spdlog::warn("expiring leases failed; trying again in {} ms reason=\"{}\" similar_lines_not_logged={}",
                     interval_.count(), std::string(pass.status().message()), suppressed);
      }
      return;
    }
    failures_.Reset();
    metrics_.active.Set(static_cast<double>(pass->active));
    if (pass->expired > 0) {
      metrics_.expired.Increment(static_cast<double>(pass->expired));
      metrics_.requeued_tasks.Increment(static_cast<double>(pass->requeued));
      spdlog::info("leases ran out documents={} tasks_enqueued_again={} dead_lettered={}", pass->expired,
                   pass->requeued, pass->dead_lettered.size());
      metrics_.dead_lettered.Increment(static_cast<double>(pass->dead_lettered.size()));
      for (const auto& id : pass->dead_lettered) {
        spdlog::warn(
            "document dead-lettered: its lease ran out as many times as its bound allows; FAILED, "
            "its tasks not enqueued again (docgatectl retry) id={}",
            id);
      }
      if (pass->requeued > 0 && requeued_) requeued_();
    }
    if (pass->expired < kBatch) return;
  }
}

}  // namespace docgate::leases
