#pragma once

#include <functional>
#include <mutex>

namespace docgate::db {

// Carries an RPC's cancellation to the database call running for it. The RPC side
// calls Cancel(); the database side installs a hook while a call runs. Thread-safe:
// after ClearHook() returns, the hook is not running and will not run.
class CancelSignal {
 public:
  void Cancel() {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    if (hook_) hook_();
  }
  bool cancelled() const {
    std::lock_guard lock(mu_);
    return cancelled_;
  }
  // Runs `hook` at once if already cancelled.
  void SetHook(std::function<void()> hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
    if (cancelled_) hook_();
  }
  void ClearHook() {
    std::lock_guard lock(mu_);
    hook_ = nullptr;
  }

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::function<void()> hook_;
};

}  // namespace docgate::db
