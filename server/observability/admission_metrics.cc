#include "server/observability/admission_metrics.h"

#include "server/observability/metrics.h"
#include "server/observability/samples.h"

namespace docgate {
namespace {

constexpr char kOtherCallers[] = "other";

class LoadCollector final : public prometheus::Collectable {
 public:
  LoadCollector(const AdmissionMetrics& metrics, const WorkQueue& queue) : metrics_(metrics), queue_(queue) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::map<std::string, WorkQueue::CallerLoad> by_label;
    std::map<std::string, double> held;                                  // callers of the label held to their share
    for (const std::string& label : metrics_.Labels()) by_label[label];  // named callers show 0 when idle
    for (const auto& [caller, load] : queue_.Load()) {
      auto& sum = by_label[metrics_.LabelOf(caller)];
      sum.running += load.running;
      sum.queued += load.queued;
      held[metrics_.LabelOf(caller)] += load.held_to_share ? 1 : 0;
    }
    std::vector<prometheus::ClientMetric> in_flight, queued, held_to_share;
    for (const auto& [label, load] : by_label) {
      in_flight.push_back(Sample(load.running, prometheus::MetricType::Gauge, {{"caller", label}}));
      queued.push_back(Sample(static_cast<double>(load.queued), prometheus::MetricType::Gauge, {{"caller", label}}));
      held_to_share.push_back(Sample(held[label], prometheus::MetricType::Gauge, {{"caller", label}}));
    }
    return {
        Family("docgate_caller_in_flight", "Database tasks running now, by caller", prometheus::MetricType::Gauge,
               std::move(in_flight)),
        Family("docgate_caller_queued", "Database tasks waiting for a slot now, by caller",
               prometheus::MetricType::Gauge, std::move(queued)),
        Family("docgate_caller_held_to_share",
               "Callers with work waiting that hold their share of the slots while others are active (the share "
               "cap), by caller label",
               prometheus::MetricType::Gauge, std::move(held_to_share)),
        Family("docgate_pool_longest_wait_seconds",
               "How long the task waiting longest for a slot (a connection) has waited; 0 when none waits",
               prometheus::MetricType::Gauge,
               {Sample(std::chrono::duration<double>(queue_.LongestWait()).count(), prometheus::MetricType::Gauge)})};
  }

 private:
  const AdmissionMetrics& metrics_;
  const WorkQueue& queue_;
};

}  // namespace

AdmissionMetrics::AdmissionMetrics(prometheus::Registry& registry)
    : wait_(prometheus::BuildHistogram()
                .Name("docgate_caller_wait_seconds")
                .Help("How long database tasks waited for a slot before they started, by caller")
                .Register(registry)),
      refused_(prometheus::BuildCounter()
                   .Name("docgate_caller_refused_total")
                   .Help("Database tasks refused before they started, by caller and reason")
                   .Register(registry)) {
  Name({});
}

void AdmissionMetrics::Started(const std::string& caller, Clock::duration waited) {
  prometheus::Histogram* wait = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = waits_.find(caller);
    wait = it != waits_.end() ? it->second : waits_.at(kOtherCallers);
  }
  wait->Observe(std::chrono::duration<double>(waited).count());
}

void AdmissionMetrics::Refused(const std::string& caller, Refusal refusal) {
  refused_.Add({{"caller", LabelOf(caller)}, {"reason", RefusalLabel(refusal)}}).Increment();
}

void AdmissionMetrics::Name(const std::set<std::string>& callers) {
  // Every series exists before it is first used (a dashboard sees 0, not nothing),
  // and a task's start (once per task) finds its histogram in one lookup.
  std::map<std::string, prometheus::Histogram*> waits;
  std::set<std::string> labels = callers;
  labels.insert({kAnonymousCaller, kOtherCallers});
  for (const std::string& label : labels) {
    waits[label] = &wait_.Add({{"caller", label}}, LatencyBuckets());
    for (Refusal r : kRefusals) refused_.Add({{"caller", label}, {"reason", RefusalLabel(r)}});
  }
  std::lock_guard lock(mu_);
  named_ = callers;
  waits_ = std::move(waits);
}

std::string AdmissionMetrics::LabelOf(const std::string& caller) const {
  if (caller == kAnonymousCaller) return caller;
  std::lock_guard lock(mu_);
  return named_.count(caller) != 0 ? caller : kOtherCallers;
}

std::vector<std::string> AdmissionMetrics::Labels() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> labels(named_.begin(), named_.end());
  labels.push_back(kAnonymousCaller);
  labels.push_back(kOtherCallers);
  return labels;
}

std::shared_ptr<prometheus::Collectable> AdmissionMetrics::LoadCollector(const WorkQueue& queue) const {
  return std::make_shared<docgate::LoadCollector>(*this, queue);
}

}  // namespace docgate
