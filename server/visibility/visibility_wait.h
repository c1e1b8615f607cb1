#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "server/common/clock.h"
#include "server/visibility/waiter_registry.h"

namespace docgate::visibility {

// The life of one WaitVisible call, apart from gRPC: registered in the registry, it
// looks for its document first and again whenever it is woken, and ends exactly
// once. While it waits it holds no thread and no connection: each look is a job
// on the work queue, and a wake-up that brings the row (a local commit, the
// watcher's check) is answered from it with no look at all.
//
// Phases: kWaiting (registered, nothing queued or running); kQueued (a look is
// queued: whoever moves it on owns the call); kLooking (a look or an answer runs,
// and alone may finish the call); kFinished. Wake-ups and endings that arrive
// while it looks leave a flag that the look reads when it returns to kWaiting;
// with sequentially consistent atomics, either the flag is seen or the late
// party's own compare-and-swap succeeds. An ending while a look is only queued
// finishes the call at once; the look, when its turn comes, does nothing.
class VisibilityWait final : public Waiter, public std::enable_shared_from_this<VisibilityWait> {
 public:
  // What the wait does outside itself. Each may be called from any thread.
  struct Actions {
    // Queues `job` on a worker thread, or calls `rejected` (full queue, no worker in
    // time, shutdown): WorkQueue::Submit.
    std::function<void(std::function<void()> job, std::function<void(absl::Status)> rejected)> submit;
    // Looks for the document once (blocks): OK (the answer is set), NOT_FOUND, or why
    // it could not look.
    std::function<absl::Status()> look;
    // Sets the answer from a row seen elsewhere; false when it cannot (the caller
    // wants the body and the sighting has none).
    std::function<bool(const Sighting&)> answer_from;
    // Ends the call, exactly once: OK after `look` or `answer_from` set the answer,
    // or why not.
    std::function<void(absl::Status)> finish;
  };

  VisibilityWait(WaiterRegistry& registry, std::string id, Clock::time_point expires_at, Actions actions)
      : registry_(registry), id_(std::move(id)), expires_at_(expires_at), actions_(std::move(actions)) {}

  // Registers, then looks (so that a commit between the two cannot be missed).
  void Start();

  // For a caller that first looks elsewhere (a replica): the wait is owned by that
  // look until it calls one of these two.
  void StartElsewhere() { phase_.store(kLooking); }
  // The look elsewhere found the document (its answer is set).
  void FoundElsewhere();
  // It did not: register, and look on the primary (or end, if asked to meanwhile).
  void NotFoundElsewhere();

  void Wake(std::shared_ptr<const Sighting> seen) override;

  // Ends the wait with `why` (its deadline, the client's cancel, shutdown), at once
  // unless a look is running, else when it returns.
  void End(absl::Status why) override;

 private:
  enum Phase { kWaiting, kQueued, kLooking, kFinished };

  void TryStartLook();
  // Runs in kLooking: answers from the row a commit or the watcher saw, if there is
  // one that will do and the first look has run.
  bool AnsweredFromSighting();
  // Runs in kLooking: answers from a sighting in hand, else queues a look.
  void AnswerOrQueueLook();
  void Look();
  // Runs in kLooking, after a look that did not find the document (or could not run).
  void AfterLook(const absl::Status& s);
  void TryEnd();
  void Finish(const absl::Status& status);
  // A compare-and-swap on the phase.
  bool Move(Phase from, Phase to);

  WaiterRegistry& registry_;
  const std::string id_;
  const Clock::time_point expires_at_;
  const Actions actions_;
  bool looked_once_ = false;  // only touched in kLooking

  std::atomic<int> phase_{kWaiting};
  std::atomic<bool> recheck_{false};
  std::atomic<bool> ending_{false};
  std::mutex mu_;
  absl::Status end_reason_;               // guarded by mu_
  std::shared_ptr<const Sighting> seen_;  // guarded by mu_
};

}  // namespace docgate::visibility
