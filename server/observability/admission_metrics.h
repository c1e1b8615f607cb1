#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "server/exec/work_queue.h"

namespace docgate {

// Fair admission's metrics, per caller: docgate_caller_wait_seconds (histogram:
// from queued to started), docgate_caller_refused_total{caller,reason}, and, read
// from the work queue at scrape time, docgate_caller_in_flight and
// docgate_caller_queued (and docgate_pool_longest_wait_seconds). The caller label is bounded: the callers the --config
// file names, "anonymous", and "other" for everyone else. Thread-safe.
class AdmissionMetrics final : public AdmissionObserver {
 public:
  explicit AdmissionMetrics(prometheus::Registry& registry);

  void Started(const std::string& caller, Clock::duration waited) override;
  void Refused(const std::string& caller, Refusal refusal) override;

  // The callers given a label of their own from now on (the --config file's).
  // Until then: none (only anonymous and other).
  void Name(const std::set<std::string>& callers);
  std::string LabelOf(const std::string& caller) const;
  std::vector<std::string> Labels() const;  // every label a caller may get

  // The in-flight and queued gauges and docgate_pool_longest_wait_seconds, read from
  // `queue` at each scrape.
  std::shared_ptr<prometheus::Collectable> LoadCollector(const WorkQueue& queue) const;

 private:
  prometheus::Family<prometheus::Histogram>& wait_;
  prometheus::Family<prometheus::Counter>& refused_;
  mutable std::mutex mu_;
  std::set<std::string> named_;                          // guarded by mu_
  std::map<std::string, prometheus::Histogram*> waits_;  // by label (named, anonymous, other); guarded by mu_
};

}  // namespace docgate
