#include "server/exec/work_queue.h"

namespace docgate {

WorkQueue::WorkQueue(Options options) : options_(options) {
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
    task.run();
    lock.lock();
  }
}

void WorkQueue::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      timer_wakes_at_ = Clock::time_point::max();
      timer_cv_.wait(lock);
      continue;
    }
    const auto start_by = queue_.front().start_by;
    if (Clock::now() < start_by) {
      timer_wakes_at_ = start_by;
      timer_cv_.wait_until(lock, start_by);
      continue;
    }
    std::vector<Task> expired;
    while (!queue_.empty() && queue_.front().start_by <= Clock::now()) {
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
