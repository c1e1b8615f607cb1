#include "server/exec/work_queue.h"

#include <exception>

#include "spdlog/spdlog.h"

namespace docgate {
namespace {

// Runs a task; an exception ends in `reject` with its reason, never in std::terminate.
void RunGuarded(WorkQueue::Run& run, WorkQueue::Reject& reject) {
  std::string reason;
  try {
    run();
    return;
  } catch (const std::exception& e) {
    reason = e.what();
  } catch (...) {
    reason = "an exception that is not a std::exception";
  }
  spdlog::error("a work-queue task threw; its call ends INTERNAL reason=\"{}\"", reason);
  reject(absl::InternalError("unexpected exception: " + reason));
}

}  // namespace

WorkQueue::WorkQueue(Options options, Clock& clock) : options_(options), clock_(clock) {
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  timer_ = std::thread([this] { TimerLoop(); });
}

WorkQueue::~WorkQueue() { Shutdown(); }

void WorkQueue::Submit(Run run, Reject reject, Clock::time_point start_by) {
  bool stopping;
  {
    std::lock_guard lock(mu_);
    stopping = stopping_;
    if (!stopping && queue_.size() < options_.max_queued) {
      queue_.push_back(Task{std::move(run), std::move(reject), start_by});
      work_cv_.notify_one();
      // The timer needs waking only when this task expires before it would wake
      // anyway: rarely, as start_by grows from one task to the next. Waking it for
      // every task cost a context switch per RPC.
      if (start_by < timer_wakes_at_) timer_cv_.notify_one();
      return;
    }
  }
  reject(absl::UnavailableError(stopping ? "server is shutting down" : "too many requests queued"));
}

void WorkQueue::WorkerLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    RunGuarded(task.run, task.reject);
    lock.lock();
  }
}

void WorkQueue::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Sleeps until the front task expires (max: until woken).
    const auto start_by = queue_.empty() ? Clock::time_point::max() : queue_.front().start_by;
    if (clock_.Now() < start_by) {
      timer_wakes_at_ = start_by;
      clock_.WaitUntil(timer_cv_, lock, start_by);
      continue;
    }
    std::vector<Task> expired;
    while (!queue_.empty() && queue_.front().start_by <= clock_.Now()) {
      expired.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    for (auto& task : expired) task.reject(absl::UnavailableError("no database connection within the acquire timeout"));
    lock.lock();
  }
}

void WorkQueue::Shutdown() {
  std::deque<Task> left;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    left.swap(queue_);
    work_cv_.notify_all();
    timer_cv_.notify_all();
  }
  for (auto& task : left) task.reject(absl::UnavailableError("server is shutting down"));
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  if (timer_.joinable()) timer_.join();
}

}  // namespace docgate
