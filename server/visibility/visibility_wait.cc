#include "server/visibility/visibility_wait.h"

#include "spdlog/spdlog.h"

namespace docgate::visibility {

bool VisibilityWait::Move(Phase from, Phase to) {
  int expected = from;
  return phase_.compare_exchange_strong(expected, to);
}

// Every entry point holds the wait: finishing the call may release its other owners.

void VisibilityWait::Start() {
  auto self = shared_from_this();
  if (auto s = registry_.Add(id_, shared_from_this(), expires_at_); !s.ok()) {
    phase_.store(kFinished);
    actions_.finish(s);
    return;
  }
  Wake(nullptr);  // the first look, after registering
}

void VisibilityWait::FoundElsewhere() {
  auto self = shared_from_this();
  Finish(absl::OkStatus());
}

void VisibilityWait::NotFoundElsewhere() {
  auto self = shared_from_this();
  if (!ending_.load()) {
    if (auto s = registry_.Add(id_, shared_from_this(), expires_at_); !s.ok()) return Finish(s);
  }
  phase_.store(kWaiting);
  if (ending_.load()) return TryEnd();
  Wake(nullptr);
}

void VisibilityWait::Wake(std::shared_ptr<const Sighting> seen) {
  auto self = shared_from_this();
  if (seen != nullptr) {
    std::lock_guard lock(mu_);
    seen_ = std::move(seen);
  }
  recheck_.store(true);
  TryStartLook();
}

void VisibilityWait::End(absl::Status why) {
  auto self = shared_from_this();
  {
    std::lock_guard lock(mu_);
    if (end_reason_.ok()) end_reason_ = std::move(why);
  }
  ending_.store(true);
  TryEnd();
}

void VisibilityWait::TryStartLook() {
  if (!Move(kWaiting, kLooking)) return;  // a running look will see recheck_
  recheck_.store(false);
  AnswerOrQueueLook();
}

bool VisibilityWait::AnsweredFromSighting() {
  // Not before the first look: it is the one that checks the request against the
  // database (a consistency token's position), which a row seen elsewhere cannot.
  if (!looked_once_) return false;
  std::shared_ptr<const Sighting> seen;
  {
    std::lock_guard lock(mu_);
    seen = seen_;
  }
  return seen != nullptr && actions_.answer_from(*seen);
}

void VisibilityWait::AnswerOrQueueLook() {
  if (AnsweredFromSighting()) return Finish(absl::OkStatus());
  auto self = shared_from_this();
  phase_.store(kQueued);
  if (ending_.load()) TryEnd();  // an ending that came while this owned the call
  actions_.submit(
      [self] {
        if (!self->Move(kQueued, kLooking)) return;  // ended while queued
        self->recheck_.store(false);                 // this look starts after every wake so far
        self->Look();
      },
      [self](absl::Status s) {
        if (self->Move(kQueued, kLooking)) self->AfterLook(s);
      });
}

void VisibilityWait::Look() {
  absl::Status s;
  try {
    if (AnsweredFromSighting()) return Finish(absl::OkStatus());  // a row seen since it was queued
    s = actions_.look();
  } catch (const std::exception& e) {
    spdlog::error("a WaitVisible look threw; the call ends INTERNAL reason=\"{}\"", e.what());
    return Finish(absl::InternalError(std::string("unexpected exception: ") + e.what()));
  }
  if (s.ok()) return Finish(s);
  AfterLook(s);
}

void VisibilityWait::AfterLook(const absl::Status& s) {
  const bool first = !looked_once_;
  looked_once_ = true;
  // Fail fast only on the first look: a database down then means "down now".
  // Once waiting, an outage is waited out until the deadline.
  if (first && !s.ok() && !absl::IsNotFound(s)) return Finish(s);
  phase_.store(kWaiting);
  if (ending_.load()) return TryEnd();
  if (recheck_.load()) TryStartLook();
}

void VisibilityWait::TryEnd() {
  if (!Move(kWaiting, kFinished) && !Move(kQueued, kFinished)) return;  // a running look will see ending_
  absl::Status reason;
  {
    std::lock_guard lock(mu_);
    reason = end_reason_;
  }
  Finish(reason);
}

void VisibilityWait::Finish(const absl::Status& status) {
  phase_.store(kFinished);
  registry_.Remove(id_, this);
  actions_.finish(status);
}

}  // namespace docgate::visibility
