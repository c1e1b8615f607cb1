#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace docgate {

// Where the server's timing logic reads time and sleeps: the process's steady
// clock in production (Clock::Real()), a fake in unit tests (tests/fakes), so that
// lifetimes, backoffs, deadlines and timers are tested in milliseconds without
// waiting for them. Thread-safe.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;

  virtual time_point Now() const = 0;

  // Blocks on `cv` with `lock` held on entry and on return, until `cv` is notified or
  // `deadline` passes on this clock (time_point::max(): until notified). May return
  // early: callers re-check their condition, as with any condition variable.
  virtual void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) = 0;

  // The process's steady clock; lives as long as the process.
  static Clock& Real();
};

class SteadyClock final : public Clock {
 public:
  time_point Now() const override { return std::chrono::steady_clock::now(); }
  void WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline) override {
    if (deadline == time_point::max()) {
      cv.wait(lock);
    } else {
      cv.wait_until(lock, deadline);
    }
  }
};

inline Clock& Clock::Real() {
  static SteadyClock clock;
  return clock;
}

}  // namespace docgate
