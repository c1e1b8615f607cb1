#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "server/common/clock.h"

namespace docgate {

// Threads we own for blocking database work, so that gRPC's own threads never
// block. FIFO; bounded. Expiry is read on the injected clock. Thread-safe.
class WorkQueue {
 public:
  using Run = std::function<void()>;
  using Reject = std::function<void(absl::Status)>;

  struct Options {
    int threads = 16;
    size_t max_queued = 4096;
  };

  explicit WorkQueue(Options options, Clock& clock = Clock::Real());
  ~WorkQueue();  // Shutdown()
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Exactly one of `run` (on a worker thread, in submission order) or `reject`
  // is called. `reject` gets UNAVAILABLE when the queue is full or shut down
  // (called on this thread), or when no worker took the task by `start_by`
  // (called on the queue's timer thread). If `run` throws, the exception is
  // logged and `reject` is called after it with INTERNAL carrying the reason, so
  // the caller still ends its call (and the worker lives). `start_by` must not decrease from one
  // Submit to the next by more than callers can tolerate lateness: expiry is
  // checked at the front of the queue.
  void Submit(Run run, Reject reject, Clock::time_point start_by);

  // Stops taking work, rejects what is still queued, and waits for running tasks.
  void Shutdown();

 private:
  struct Task {
    Run run;
    Reject reject;
    Clock::time_point start_by;
  };
  void WorkerLoop();
  void TimerLoop();

  const Options options_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable timer_cv_;
  std::deque<Task> queue_;
  // When the timer thread will next look at the queue by itself (max: not before
  // it is woken). Guarded by mu_.
  Clock::time_point timer_wakes_at_ = Clock::time_point::min();
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::thread timer_;
};

}  // namespace docgate
