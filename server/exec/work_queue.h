#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "server/common/clock.h"
#include "server/exec/admission_policy.h"
#include "server/exec/fair_scheduler.h"

namespace docgate {

// Why the queue refused a task (a metric label each).
enum class Refusal {
  kQueueFull,          // UNAVAILABLE: the queue holds max_queued tasks of all callers
  kCallerQueueFull,    // RESOURCE_EXHAUSTED: the caller has its own max_queued waiting
  kCallerRunningCap,   // RESOURCE_EXHAUSTED: would wait too long because of the caller's own max_running
  kWouldMissDeadline,  // UNAVAILABLE: by the caller's pace, it would not start in time
  kQueueWait,          // UNAVAILABLE: waited max_queue_wait while others ran
  kAcquireTimeout,     // UNAVAILABLE: not started by its start_by
  kShuttingDown,       // UNAVAILABLE
};
inline constexpr Refusal kRefusals[] = {
    Refusal::kQueueFull, Refusal::kCallerQueueFull, Refusal::kCallerRunningCap, Refusal::kWouldMissDeadline,
    Refusal::kQueueWait, Refusal::kAcquireTimeout,  Refusal::kShuttingDown};
const char* RefusalLabel(Refusal refusal);
// Whether a task's `reject` got `status` because its start_by passed (kAcquireTimeout).
bool IsAcquireTimeout(const absl::Status& status);

// Told what admission does, for metrics. Called without the queue's lock held.
class AdmissionObserver {
 public:
  virtual ~AdmissionObserver() = default;
  virtual void Started(const std::string& caller, Clock::duration waited) = 0;
  virtual void Refused(const std::string& caller, Refusal refusal) = 0;
};

// Threads we own for the blocking database work of every RPC, so that gRPC's own
// threads never block, and the point where callers are admitted to the database:
// at most `slots` tasks run at once (the pool's size, so a running task does not
// wait for a connection), and which waiting task starts next is chosen by weighted
// fair queuing across callers (FairScheduler; AdmissionPolicy). Bounded per caller
// and in all. Expiry is read on the injected clock. Thread-safe.
//
// The CPU is shared like the slots: a task whose caller has more work than the
// share cap lets it run while others are active runs on a thread of lower CPU
// priority (nice + kOverShareNice), so that on a busy machine the others' short
// calls are not left waiting for a core behind a flood's long ones. Alone, or with
// the share cap off, every task runs on the ordinary workers.
class WorkQueue {
 public:
  // How much lower the CPU priority of the over-share workers is (a nice value
  // step; raising it needs no privilege).
  static constexpr int kOverShareNice = 10;

  using Run = std::function<void()>;
  using Reject = std::function<void(absl::Status)>;

  struct Options {
    int slots = 16;
    size_t max_queued = 4096;
    AdmissionPolicy policy;
  };

  // Whose task, and how long it may wait.
  struct Ticket {
    std::string caller = kAnonymousCaller;
    // Not started by then: refused UNAVAILABLE (the acquire timeout).
    Clock::time_point start_by = Clock::time_point::max();
    // The call's own deadline: a task the caller's pace says cannot start before it
    // is refused at once rather than left to wait for it.
    Clock::time_point deadline = Clock::time_point::max();
  };

  explicit WorkQueue(Options options, Clock& clock = Clock::Real(), AdmissionObserver* observer = nullptr);
  ~WorkQueue();  // Shutdown()
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Exactly one of `run` (on a worker thread; a caller's tasks start in the order
  // they came) or `reject` is called. `reject` is called on this thread when the
  // task is refused at once (UNAVAILABLE: queue full, shutting down, would not start
  // in time; RESOURCE_EXHAUSTED: over the caller's own cap), or on the queue's timer
  // thread when it waited too long (see Ticket, AdmissionPolicy::max_queue_wait). If
  // `run` throws, the exception is logged and `reject` is called after it with
  // INTERNAL carrying the reason, so the caller still ends its call (and the worker
  // lives). Expiry is checked at the front of each caller's queue: `start_by` should
  // not decrease from one of a caller's tasks to the next.
  void Submit(const Ticket& ticket, Run run, Reject reject);
  // A task of the anonymous caller.
  void Submit(Run run, Reject reject, Clock::time_point start_by) {
    Submit(Ticket{kAnonymousCaller, start_by}, std::move(run), std::move(reject));
  }

  // Changes the slots and the admission policy while tasks run: a smaller number of
  // slots lets running tasks end, and starts no more until under it.
  void Configure(int slots, const AdmissionPolicy& policy);

  // Stops taking work, rejects what is still queued, and waits for running tasks.
  void Shutdown();

  // Tasks waiting for a slot now, of every caller.
  size_t queued() const;

  // What one caller has in the queue now.
  struct CallerLoad {
    int running = 0;
    size_t queued = 0;
    bool held_to_share = false;  // it has work waiting, held back by the share cap
  };
  std::map<std::string, CallerLoad> Load() const;

  // How long the task waiting longest for a slot has waited; zero when none waits.
  Clock::duration LongestWait() const;

 private:
  struct Task {
    std::string caller;
    Run run;
    Reject reject;
    Clock::time_point enqueued;
    Clock::time_point start_by;
  };
  using Scheduler = FairScheduler<Task>;

  void WorkerLoop();
  // Runs the tasks WorkerLoop hands over (over_share), at lower CPU priority.
  void OverShareWorkerLoop();
  // Hands `started` over to an over-share worker (moved from); false, and `started`
  // untouched, when no worker could be made for it.
  bool HandOverLocked(Scheduler::Started& started);
  void EndedLocked(const Scheduler::Started& started);
  void TimerLoop();
  void AddWorkersLocked();
  void RunTask(Scheduler::Started& started);
  // The lane `caller`'s tasks wait in: its own, or the one shared lane when not fair.
  const std::string& LaneOf(const std::string& caller) const;
  // Why `task` is refused at once; nullopt when it may wait.
  std::optional<Refusal> RefuseAtSubmitLocked(const Ticket& ticket, Clock::time_point now) const;
  Clock::time_point ExpiresAt(const Task& task) const;
  // Takes the waiting tasks whose time is up, with why.
  std::vector<std::pair<Task, Refusal>> TakeExpiredLocked(Clock::time_point now);
  void Refuse(const std::string& caller, Refusal refusal, const Reject& reject);
  void CountLocked(const std::string& caller, int running, int queued);

  Options options_;  // slots and policy guarded by mu_
  Clock& clock_;
  AdmissionObserver* const observer_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable timer_cv_;
  Scheduler scheduler_;
  std::map<std::string, CallerLoad> load_;  // by caller, whatever the lane; guarded by mu_
  int running_ = 0;
  // When the timer thread will next look at the queue by itself (max: not before
  // it is woken). Guarded by mu_.
  Clock::time_point timer_wakes_at_ = Clock::time_point::min();
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  // Started tasks handed over to the over-share workers, which are made as they are
  // needed (no more than the slots); guarded by mu_.
  std::deque<Scheduler::Started> over_share_;
  std::condition_variable over_share_cv_;
  size_t idle_over_share_workers_ = 0;
  std::vector<std::thread> over_share_workers_;
  std::thread timer_;
};

}  // namespace docgate
