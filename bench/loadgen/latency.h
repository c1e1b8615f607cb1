#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace loadgen {

using Clock = std::chrono::steady_clock;

// What one measured run produced. Latencies are exact (every sample is kept), in
// nanoseconds; errors are counted by a code name (a gRPC code, or a SQLSTATE).
struct RunTotals {
  std::vector<int64_t> latencies_ns;
  std::map<std::string, int64_t> errors;
};

// Collects samples from many threads: each thread fills its own Shard and merges it
// once at the end, so recording costs no lock.
class Recorder {
 public:
  struct Shard {
    std::vector<int64_t> latencies_ns;
    std::map<std::string, int64_t> errors;
    void Ok(Clock::duration d) { latencies_ns.push_back(std::chrono::nanoseconds(d).count()); }
    void Error(const std::string& code) { ++errors[code]; }
  };

  void Merge(Shard& shard);
  RunTotals Take();

 private:
  std::mutex mu_;
  RunTotals totals_;
};

// The measurement window: only operations that complete inside it are counted.
struct Window {
  Clock::time_point start;
  Clock::time_point end;
  bool Contains(Clock::time_point t) const { return t >= start && t < end; }
};

}  // namespace loadgen
