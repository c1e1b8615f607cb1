#include "latency.h"

namespace loadgen {

void Recorder::Merge(Shard& shard) {
  std::lock_guard<std::mutex> lock(mu_);
  totals_.latencies_ns.insert(totals_.latencies_ns.end(), shard.latencies_ns.begin(), shard.latencies_ns.end());
  for (const auto& [code, n] : shard.errors) totals_.errors[code] += n;
  shard = Shard{};
}

RunTotals Recorder::Take() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(totals_);
}

}  // namespace loadgen
