#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace docgate::rpc {

// Admits calls until Close(), and counts the admitted calls not yet over, so that a
// shutdown can let them finish. docgate never relies on gRPC's own Server::Shutdown
// for this: gRPC answers calls that arrive during it CANCELLED (grpc/grpc#41785),
// while a closed gate lets us answer them UNAVAILABLE ourselves.
// Thread-safe; Enter and Leave take no lock.
class CallGate {
 public:
  // True: admitted, and the caller must Leave() exactly once when the call is over
  // (its reactor's OnDone). False once closed.
  bool Enter() {
    active_.fetch_add(1);  // before the check: Close() either sees this call or it sees closed_
    if (!closed_.load()) return true;
    Leave();
    return false;
  }

  void Leave() {
    if (active_.fetch_sub(1) == 1 && closed_.load()) {
      std::lock_guard lock(mu_);
      drained_.notify_all();
    }
  }

  // Admits no call from now on.
  void Close() { closed_.store(true); }

  // After Close(): true once every admitted call has left, false if `deadline` came first.
  bool WaitDrained(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    return drained_.wait_until(lock, deadline, [this] { return active_.load() == 0; });
  }

  // Admitted calls not yet over.
  int64_t active() const { return active_.load(); }

 private:
  std::atomic<int64_t> active_{0};
  std::atomic<bool> closed_{false};
  std::mutex mu_;
  std::condition_variable drained_;
};

}  // namespace docgate::rpc
