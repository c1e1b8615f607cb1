#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace docgate {

// Keeps an outage from flooding the log: lets `burst` lines through at once, then one
// more per `interval`, and counts the lines it holds back so that the next line
// written can say how many it stands for. Thread-safe.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  LogLimiter(int burst, Clock::duration interval) : burst_(burst), interval_(interval), tokens_(burst) {}

  // Whether to write a line now. When it says yes, `suppressed` is the number of
  // lines held back since the last one written.
  bool Allow(uint64_t& suppressed, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mu_);
    if (tokens_ < burst_ && now - refilled_at_ >= interval_) {
      const auto earned = (now - refilled_at_) / interval_;
      tokens_ = static_cast<int>(std::min<int64_t>(burst_, tokens_ + earned));
      refilled_at_ += earned * interval_;
    }
    if (tokens_ == 0) {
      ++suppressed_;
      return false;
    }
    if (tokens_ == burst_) refilled_at_ = now;  // a full bucket earns nothing while it waits
    --tokens_;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

  // The trouble is over: the next line goes through at once.
  void Reset() {
    std::lock_guard lock(mu_);
    tokens_ = burst_;
  }

 private:
  const int burst_;
  const Clock::duration interval_;
  std::mutex mu_;
  int tokens_;
  Clock::time_point refilled_at_{};
  uint64_t suppressed_ = 0;
};

}  // namespace docgate
