#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/exec/admission_policy.h"

namespace docgate {

// Orders queued work across callers by weighted fair queuing (stride scheduling on
// the time tasks hold a slot): while several callers have work waiting, each holds
// slots in proportion to its weight, whatever its tasks' lengths; a caller with
// nothing waiting leaves its share to the others (work conserving) and banks no
// credit for the time it was idle; a caller at its own running cap is passed over,
// its share going to the others. Within a caller, tasks start in the order they
// came. A task is charged its caller's usual length when it starts, and the
// difference when it ends. Not thread-safe: its owner's lock guards it.
template <typename Task>
class FairScheduler {
 public:
  using ShareOf = std::function<CallerShare(const std::string& caller)>;

  explicit FairScheduler(ShareOf share_of) : share_of_(std::move(share_of)) {}

  // Queues `task` for `caller`; false, and `task` left untouched (its owner still
  // holds it, to refuse it), when the caller already has its max_queued waiting.
  bool Push(const std::string& caller, Task&& task) {
    Caller& c = callers_[caller];
    c.share = share_of_(caller);
    if (c.share.max_queued > 0 && c.queue.size() >= c.share.max_queued) {
      if (c.queue.empty() && c.running == 0) callers_.erase(caller);
      return false;
    }
    if (c.queue.empty()) c.pass = std::max(c.pass, LowestActivePass());  // no credit for idle time
    c.queue.push_back(std::move(task));
    ++queued_;
    return true;
  }

  struct Started {
    std::string caller;
    Task task;
    double charged_ms = 0;  // give it back to Done
  };

  // The next task to start: the first waiting task of the caller with the lowest
  // pass among those under their running cap; nullopt when none may start. It
  // counts as running until Done.
  std::optional<Started> Pop() {
    auto best = callers_.end();
    for (auto it = callers_.begin(); it != callers_.end(); ++it) {
      const Caller& c = it->second;
      if (c.queue.empty() || (c.share.max_running > 0 && c.running >= c.share.max_running)) continue;
      if (best == callers_.end() || c.pass < best->second.pass) best = it;
    }
    if (best == callers_.end()) return std::nullopt;
    Caller& c = best->second;
    Started next{best->first, std::move(c.queue.front()), c.usual_ms};
    c.queue.pop_front();
    --queued_;
    ++c.running;
    c.pass += next.charged_ms / Weight(c);
    last_pass_ = std::max(last_pass_, c.pass);
    return next;
  }

  // A task Pop returned has ended after holding its slot `held_ms`.
  void Done(const Started& started, double held_ms) {
    auto it = callers_.find(started.caller);
    if (it == callers_.end()) return;
    Caller& c = it->second;
    --c.running;
    c.pass += (held_ms - started.charged_ms) / Weight(c);
    c.usual_ms += (held_ms - c.usual_ms) * kUsualWeight;
    Forget(it);
  }

  // Reads every active caller's share again (after the policy changed).
  void RefreshShares() {
    for (auto& [name, c] : callers_) c.share = share_of_(name);
  }

  // Calls `visit(front_task)` for the first waiting task of every caller.
  template <typename Visit>
  void ForEachFront(Visit visit) const {
    for (const auto& [name, c] : callers_) {
      if (!c.queue.empty()) visit(c.queue.front());
    }
  }

  // Removes and returns, in order, the waiting tasks for which `due` is true, looking
  // only at the front of each caller's queue (tasks wait in order).
  template <typename Due>
  std::vector<Task> TakeFrontsWhile(Due due) {
    std::vector<Task> taken;
    for (auto it = callers_.begin(); it != callers_.end();) {
      auto& queue = it->second.queue;
      while (!queue.empty() && due(queue.front())) {
        taken.push_back(std::move(queue.front()));
        queue.pop_front();
        --queued_;
      }
      it = Forget(it);
    }
    return taken;
  }

  // Removes and returns every waiting task.
  std::vector<Task> TakeAll() {
    return TakeFrontsWhile([](const Task&) { return true; });
  }

  size_t queued() const { return queued_; }
  int running(const std::string& caller) const {
    auto it = callers_.find(caller);
    return it == callers_.end() ? 0 : it->second.running;
  }
  size_t queued(const std::string& caller) const {
    auto it = callers_.find(caller);
    return it == callers_.end() ? 0 : it->second.queue.size();
  }
  // How long a task pushed now for `caller` would wait, going by the caller's usual
  // task length and the slots it holds (one at least); 0 when it would be first.
  double EstimatedWaitMs(const std::string& caller) const {
    auto it = callers_.find(caller);
    if (it == callers_.end()) return 0;
    const Caller& c = it->second;
    return static_cast<double>(c.queue.size()) * c.usual_ms / std::max(1, c.running);
  }
  // Whether `caller` holds as many slots as its own cap allows.
  bool AtRunningCap(const std::string& caller) const {
    auto it = callers_.find(caller);
    if (it == callers_.end()) return false;
    const Caller& c = it->second;
    return c.share.max_running > 0 && c.running >= c.share.max_running;
  }

 private:
  static constexpr double kMinWeight = 1e-3;
  // How fast a caller's usual task length follows its latest (a moving average).
  static constexpr double kUsualWeight = 0.2;

  struct Caller {
    std::deque<Task> queue;
    int running = 0;
    double pass = 0;        // virtual time: slot-milliseconds held, divided by the weight
    double usual_ms = 1.0;  // the length charged when a task starts
    CallerShare share;
  };

  static double Weight(const Caller& c) { return std::max(c.share.weight, kMinWeight); }
  using Callers = std::map<std::string, Caller>;

  // The lowest pass of the callers with work waiting (or the last one handed out).
  double LowestActivePass() const {
    double lowest = std::numeric_limits<double>::max();
    for (const auto& [name, c] : callers_) {
      if (!c.queue.empty()) lowest = std::min(lowest, c.pass);
    }
    return lowest == std::numeric_limits<double>::max() ? last_pass_ : lowest;
  }

  // Drops a caller with nothing waiting or running: the map holds active callers only.
  typename Callers::iterator Forget(typename Callers::iterator it) {
    if (it->second.queue.empty() && it->second.running == 0) return callers_.erase(it);
    return ++it;
  }

  const ShareOf share_of_;
  Callers callers_;
  size_t queued_ = 0;
  double last_pass_ = 0;
};

}  // namespace docgate
