#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "server/common/clock.h"

namespace docgate::testing {

// A Clock that moves only when a test calls Advance. Threads waiting on it look at
// the fake time again every real millisecond, so Advance needs no handle on them;
// a test can also see who sleeps until when (AwaitSleeper). Thread-safe.
class FakeClock final : public Clock {
 public:
  time_point Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override {
    {
      std::lock_guard guard(mu_);
      if (now_ >= deadline) return;
      sleepers_.push_back(deadline);
      if (deadline != time_point::max()) ++timed_sleeps_;
    }
    cv.wait_for(lock, std::chrono::milliseconds(1));
    std::lock_guard guard(mu_);
    sleepers_.erase(std::find(sleepers_.begin(), sleepers_.end(), deadline));
  }

  void Advance(duration d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

  // How many times a thread began to sleep on this clock with a finite deadline.
  uint64_t timed_sleeps() const {
    std::lock_guard lock(mu_);
    return timed_sleeps_;
  }

  // Waits (up to 10 real seconds) until a thread sleeps on this clock with a finite
  // deadline that `matches`; returns that deadline, or time_point::min() when none came.
  time_point AwaitSleeper(const std::function<bool(time_point)>& matches) const {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
      {
        std::lock_guard lock(mu_);
        for (time_point t : sleepers_) {
          if (t != time_point::max() && matches(t)) return t;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));  // polling another thread's state
    }
    return time_point::min();
  }

 private:
  mutable std::mutex mu_;
  time_point now_ = time_point() + std::chrono::hours(1);
  std::vector<time_point> sleepers_;
  uint64_t timed_sleeps_ = 0;
};

// Waits (up to 10 real seconds) until `condition` holds; whether it did.
inline bool Eventually(const std::function<bool()>& condition) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // polling another thread's state
  }
  return true;
}

}  // namespace docgate::testing
