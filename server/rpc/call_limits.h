#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace docgate::rpc {

// The limits every call reads when it arrives, which a reload of the --config file
// may change while docgate runs. Thread-safe.
class CallLimits {
 public:
  using ms = std::chrono::milliseconds;
  CallLimits(ms acquire_timeout, ms statement_timeout, ms max_wait) {
    Set(acquire_timeout, statement_timeout, max_wait);
  }

  // Longest wait for a database slot and connection, from the call's arrival.
  ms acquire_timeout() const { return ms(acquire_timeout_ms_.load(std::memory_order_relaxed)); }
  // Longest a statement may run, whatever the call's deadline.
  ms statement_timeout() const { return ms(statement_timeout_ms_.load(std::memory_order_relaxed)); }
  // Longest a WaitVisible waits, whatever the call's deadline.
  ms max_wait() const { return ms(max_wait_ms_.load(std::memory_order_relaxed)); }

  void Set(ms acquire_timeout, ms statement_timeout, ms max_wait) {
    acquire_timeout_ms_.store(acquire_timeout.count(), std::memory_order_relaxed);
    statement_timeout_ms_.store(statement_timeout.count(), std::memory_order_relaxed);
    max_wait_ms_.store(max_wait.count(), std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> acquire_timeout_ms_{0};
  std::atomic<int64_t> statement_timeout_ms_{0};
  std::atomic<int64_t> max_wait_ms_{0};
};

}  // namespace docgate::rpc
