#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace docgate {

// Calls `step` every `interval` on a thread of its own until destroyed (the
// destructor waits for a step under way).
class Periodic {
 public:
  Periodic(std::chrono::milliseconds interval, std::function<void()> step)
      : interval_(interval), step_(std::move(step)), thread_([this] { Loop(); }) {}
  ~Periodic() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    stop_.notify_all();
    thread_.join();
  }
  Periodic(const Periodic&) = delete;
  Periodic& operator=(const Periodic&) = delete;

 private:
  void Loop() {
    std::unique_lock lock(mu_);
    while (!stop_.wait_for(lock, interval_, [this] { return stopping_; })) {
      lock.unlock();
      step_();
      lock.lock();
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> step_;
  std::mutex mu_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest is set
};

}  // namespace docgate
