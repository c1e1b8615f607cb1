#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace docgate {

// The outbox's metrics: docgate_outbox_tasks (backlog), docgate_outbox_oldest_task_seconds,
// docgate_outbox_delivered_total{queue}, docgate_outbox_delivery_failures_total{queue},
// docgate_outbox_commit_to_broker_seconds, docgate_broker_up (0 also without a
// broker configured: no relay runs then). Queue labels are
// bounded: the first kMaxQueues queue names seen, then "other". Thread-safe.
class OutboxMetrics {
 public:
  static constexpr size_t kMaxQueues = 32;

  explicit OutboxMetrics(prometheus::Registry& registry);

  prometheus::Counter& delivered(const std::string& queue) { return ByQueue(delivered_, queue); }
  prometheus::Counter& failed(const std::string& queue) { return ByQueue(failed_, queue); }

  prometheus::Gauge& backlog;
  prometheus::Gauge& oldest_seconds;
  prometheus::Histogram& commit_to_broker_seconds;
  prometheus::Gauge& broker_up;

 private:
  prometheus::Counter& ByQueue(prometheus::Family<prometheus::Counter>& family, const std::string& queue);

  prometheus::Family<prometheus::Counter>& delivered_;
  prometheus::Family<prometheus::Counter>& failed_;
  std::mutex mu_;
  std::unordered_map<std::string, bool> queues_;  // the names given a label of their own
};

}  // namespace docgate
