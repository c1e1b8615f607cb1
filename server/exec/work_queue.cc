#include "server/exec/work_queue.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <system_error>

#include "spdlog/spdlog.h"

namespace docgate {
namespace {

// The one lane every task waits in when admission is first come, first served.
const std::string kSharedLane;

constexpr char kAcquireTimeoutMessage[] = "no database connection within the acquire timeout";

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

absl::Status StatusOf(Refusal refusal, const std::string& caller) {
  switch (refusal) {
    case Refusal::kQueueFull: return absl::UnavailableError("too many requests queued; retry later");
    case Refusal::kCallerQueueFull:
      return absl::ResourceExhaustedError("caller '" + caller + "' has as many requests queued as its cap allows");
    case Refusal::kCallerRunningCap:
      return absl::ResourceExhaustedError("caller '" + caller +
                                          "' holds as many database slots as its cap allows, and its queued work "
                                          "would not start in time");
    case Refusal::kWouldMissDeadline:
      return absl::UnavailableError("overloaded: the request would not start before its deadline; retry later");
    case Refusal::kQueueWait:
      return absl::UnavailableError("overloaded: the request waited too long for a database slot; retry later");
    case Refusal::kAcquireTimeout: return absl::UnavailableError(kAcquireTimeoutMessage);
    case Refusal::kShuttingDown: return absl::UnavailableError("server is shutting down");
  }
  return absl::InternalError("unknown refusal");
}

double Milliseconds(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Raises the calling thread's nice value by `step` (Linux keeps one per thread).
// Without it the thread still works, at the priority it had: logged once.
void LowerThisThreadsCpuPriority(int step) {
  const auto self = static_cast<id_t>(gettid());
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, self);
  if (errno == 0 && setpriority(PRIO_PROCESS, self, std::min(nice + step, 19)) == 0) return;
  static std::once_flag logged;
  std::call_once(logged, [error = errno] {
    spdlog::warn(
        "could not lower the CPU priority of the workers for callers over their share ({}); they run at "
        "the usual priority",
        std::strerror(error));
  });
}

}  // namespace

const char* RefusalLabel(Refusal refusal) {
  switch (refusal) {
    case Refusal::kQueueFull: return "queue_full";
    case Refusal::kCallerQueueFull: return "caller_queue_full";
    case Refusal::kCallerRunningCap: return "caller_running_cap";
    case Refusal::kWouldMissDeadline: return "would_miss_deadline";
    case Refusal::kQueueWait: return "queue_wait";
    case Refusal::kAcquireTimeout: return "acquire_timeout";
    case Refusal::kShuttingDown: return "shutting_down";
  }
  return "unknown";
}

bool IsAcquireTimeout(const absl::Status& status) {
  return absl::IsUnavailable(status) && status.message() == kAcquireTimeoutMessage;
}

WorkQueue::WorkQueue(Options options, Clock& clock, AdmissionObserver* observer)
    : options_(std::move(options)), clock_(clock), observer_(observer), scheduler_([this](const std::string& lane) {
        return options_.policy.fair ? options_.policy.ShareOf(lane) : CallerShare{};
      }) {
  std::lock_guard lock(mu_);
  scheduler_.SetShareCap(options_.policy.fair && options_.policy.share_cap);
  AddWorkersLocked();
  timer_ = std::thread([this] { TimerLoop(); });
}

WorkQueue::~WorkQueue() { Shutdown(); }

void WorkQueue::AddWorkersLocked() {
  while (static_cast<int>(workers_.size()) < options_.slots) workers_.emplace_back([this] { WorkerLoop(); });
}

const std::string& WorkQueue::LaneOf(const std::string& caller) const {
  return options_.policy.fair ? caller : kSharedLane;
}

std::optional<Refusal> WorkQueue::RefuseAtSubmitLocked(const Ticket& ticket, Clock::time_point now) const {
  if (stopping_) return Refusal::kShuttingDown;
  if (scheduler_.queued() >= options_.max_queued) return Refusal::kQueueFull;
  const std::string& lane = LaneOf(ticket.caller);
  const auto due = std::min(ticket.start_by, ticket.deadline);
  const double wait_ms = scheduler_.EstimatedWaitMs(lane);
  // A due time already past is compared, not subtracted from (it may be the far past).
  if (due != Clock::time_point::max() && wait_ms > 0 && (due <= now || wait_ms > Milliseconds(due - now))) {
    return scheduler_.AtRunningCap(lane) ? Refusal::kCallerRunningCap : Refusal::kWouldMissDeadline;
  }
  return std::nullopt;
}

void WorkQueue::Submit(const Ticket& ticket, Run run, Reject reject) {
  std::optional<Refusal> refusal;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    refusal = RefuseAtSubmitLocked(ticket, now);
    Task task{ticket.caller, std::move(run), std::move(reject), now, ticket.start_by};
    const auto expires_at = ExpiresAt(task);
    // The scheduler holds the caller's own queue cap (none when not fair).
    if (!refusal.has_value() && !scheduler_.Push(LaneOf(ticket.caller), std::move(task), now)) {
      refusal = Refusal::kCallerQueueFull;
    }
    if (!refusal.has_value()) {
      CountLocked(ticket.caller, 0, +1);
      work_cv_.notify_one();
      // The timer needs waking only when this task expires before it would wake
      // anyway: rarely, as start_by grows from one task to the next. Waking it for
      // every task cost a context switch per RPC.
      if (expires_at < timer_wakes_at_) timer_cv_.notify_one();
      return;
    }
    reject = std::move(task.reject);
  }
  Refuse(ticket.caller, *refusal, reject);
}

void WorkQueue::Refuse(const std::string& caller, Refusal refusal, const Reject& reject) {
  if (observer_ != nullptr) observer_->Refused(caller, refusal);
  reject(StatusOf(refusal, caller));
}

void WorkQueue::CountLocked(const std::string& caller, int running, int queued) {
  CallerLoad& load = load_[caller];
  load.running += running;
  load.queued = static_cast<size_t>(static_cast<int64_t>(load.queued) + queued);
  if (load.running == 0 && load.queued == 0) load_.erase(caller);
}

void WorkQueue::WorkerLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    std::optional<Scheduler::Started> next;
    while (true) {
      if (running_ < options_.slots) next = scheduler_.Pop(options_.slots, clock_.Now());
      if (next.has_value()) break;
      if (stopping_) return;  // Shutdown took what was queued
      work_cv_.wait(lock);
    }
    ++running_;
    CountLocked(next->task.caller, +1, -1);
    if (next->over_share && HandOverLocked(*next)) continue;
    lock.unlock();
    RunTask(*next);
    lock.lock();
    EndedLocked(*next);
  }
}

bool WorkQueue::HandOverLocked(Scheduler::Started& started) {
  if (over_share_.size() >= idle_over_share_workers_) {  // none idle is left for it
    try {
      over_share_workers_.emplace_back([this] { OverShareWorkerLoop(); });
    } catch (const std::system_error& e) {  // out of threads (a pids limit): this worker runs it
      static std::once_flag logged;
      std::call_once(logged, [&e] {
        spdlog::warn("could not start a worker for callers over their share ({}); their work runs on the usual ones",
                     e.what());
      });
      return false;
    }
  }
  over_share_.push_back(std::move(started));
  over_share_cv_.notify_one();
  return true;
}

void WorkQueue::OverShareWorkerLoop() {
  LowerThisThreadsCpuPriority(kOverShareNice);
  std::unique_lock lock(mu_);
  while (true) {
    ++idle_over_share_workers_;
    over_share_cv_.wait(lock, [this] { return !over_share_.empty() || stopping_; });
    --idle_over_share_workers_;
    if (over_share_.empty()) return;  // stopping; what was handed over has run
    Scheduler::Started next = std::move(over_share_.front());
    over_share_.pop_front();
    lock.unlock();
    RunTask(next);
    lock.lock();
    EndedLocked(next);
  }
}

void WorkQueue::EndedLocked(const Scheduler::Started& started) {
  --running_;
  CountLocked(started.task.caller, -1, 0);
  // A slot is free, and the caller may be under its own cap again.
  work_cv_.notify_one();
}

void WorkQueue::RunTask(Scheduler::Started& started) {
  const auto begin = clock_.Now();
  if (observer_ != nullptr) observer_->Started(started.task.caller, begin - started.task.enqueued);
  RunGuarded(started.task.run, started.task.reject);
  const double held_ms = Milliseconds(clock_.Now() - begin);
  std::lock_guard lock(mu_);
  scheduler_.Done(started, held_ms, clock_.Now());
}

Clock::time_point WorkQueue::ExpiresAt(const Task& task) const {
  const auto max_wait = options_.policy.max_queue_wait;
  if (max_wait.count() <= 0) return task.start_by;
  return std::min(task.start_by, task.enqueued + max_wait);
}

std::vector<std::pair<WorkQueue::Task, Refusal>> WorkQueue::TakeExpiredLocked(Clock::time_point now) {
  std::vector<std::pair<Task, Refusal>> expired;
  for (Task& task : scheduler_.TakeFrontsWhile([&](const Task& t) { return ExpiresAt(t) <= now; })) {
    Refusal why = Refusal::kAcquireTimeout;
    if (task.start_by > now) {
      why = scheduler_.AtRunningCap(LaneOf(task.caller)) ? Refusal::kCallerRunningCap : Refusal::kQueueWait;
    }
    CountLocked(task.caller, 0, -1);
    expired.emplace_back(std::move(task), why);
  }
  return expired;
}

void WorkQueue::TimerLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Sleeps until the first task expires (max: until woken).
    auto wake_at = Clock::time_point::max();
    scheduler_.ForEachFront([&](const Task& t) { wake_at = std::min(wake_at, ExpiresAt(t)); });
    if (clock_.Now() < wake_at) {
      timer_wakes_at_ = wake_at;
      clock_.WaitUntil(timer_cv_, lock, wake_at);
      continue;
    }
    auto expired = TakeExpiredLocked(clock_.Now());
    lock.unlock();
    for (auto& [task, why] : expired) Refuse(task.caller, why, task.reject);
    lock.lock();
  }
}

void WorkQueue::Configure(int slots, const AdmissionPolicy& policy) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  options_.slots = slots;
  options_.policy = policy;
  scheduler_.SetShareCap(policy.fair && policy.share_cap);
  scheduler_.RefreshShares();
  AddWorkersLocked();
  work_cv_.notify_all();
  timer_cv_.notify_one();  // max_queue_wait may have changed
}

size_t WorkQueue::queued() const {
  std::lock_guard lock(mu_);
  return scheduler_.queued();
}

std::map<std::string, WorkQueue::CallerLoad> WorkQueue::Load() const {
  std::lock_guard lock(mu_);
  auto load = load_;
  for (auto& [caller, l] : load) l.held_to_share = scheduler_.HeldToShare(LaneOf(caller));
  return load;
}

Clock::duration WorkQueue::LongestWait() const {
  const auto now = clock_.Now();
  Clock::duration longest{0};
  std::lock_guard lock(mu_);
  // A caller's tasks wait in order: its oldest is at its front.
  scheduler_.ForEachFront([&](const Task& task) { longest = std::max(longest, now - task.enqueued); });
  return longest;
}

void WorkQueue::Shutdown() {
  std::vector<Task> left;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    left = scheduler_.TakeAll();
    for (const Task& task : left) CountLocked(task.caller, 0, -1);
    work_cv_.notify_all();
    timer_cv_.notify_all();
  }
  for (auto& task : left) Refuse(task.caller, Refusal::kShuttingDown, task.reject);
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  // No more hand-overs now; the over-share workers end once what they hold has run.
  {
    std::lock_guard lock(mu_);
    over_share_cv_.notify_all();
  }
  for (auto& worker : over_share_workers_) worker.join();
  over_share_workers_.clear();
  if (timer_.joinable()) timer_.join();
}

}  // namespace docgate
