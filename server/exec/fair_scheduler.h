#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/common/clock.h"
#include "server/exec/admission_policy.h"

namespace docgate {

// Orders queued work across callers by weighted fair queuing (stride scheduling on
// the time tasks hold a slot): while several callers have work waiting, each holds
// slots in proportion to its weight, whatever its tasks' lengths; a caller with
// nothing waiting leaves its share to the others (work conserving) and banks no
// credit for the time it was idle; a caller at its own running cap is passed over,
// its share going to the others. Within a caller, tasks start in the order they
// came. A task is charged its caller's usual length when it starts, and the
// difference when it ends.
//
// A task once started is not preempted, so weights alone cannot protect a caller
// of short tasks from one of long tasks that took every slot while it was between
// two calls. With the share cap on (the default), while several callers are
// active, each caller holds at most the slots the others leave it: every other
// caller keeps back its share of the slots (at least one), but never more than
// it had in flight at once lately (its demand, remembered for kDemandMemory). A
// caller alone may use every slot; one whose demand is small keeps back little.
// Not thread-safe: its owner's lock guards it.
template <typename Task>
class FairScheduler {
 public:
  using ShareOf = std::function<CallerShare(const std::string& caller)>;

  // How long a caller's demand (its most tasks in flight at once) is remembered
  // after it had them: a caller whose calls come one after another, a little apart,
  // keeps its slots between them.
  static constexpr Clock::duration kDemandMemory = std::chrono::milliseconds(500);

  explicit FairScheduler(ShareOf share_of) : share_of_(std::move(share_of)) {}

  // Whether callers are held to their share of the slots while others are active.
  void SetShareCap(bool on) { share_cap_ = on; }

  // Queues `task` for `caller`; false, and `task` left untouched (its owner still
  // holds it, to refuse it), when the caller already has its max_queued waiting.
  bool Push(const std::string& caller, Task&& task, Clock::time_point now) {
    Caller& c = callers_[caller];
    c.share = share_of_(caller);
    if (c.share.max_queued > 0 && c.queue.size() >= c.share.max_queued) {
      if (c.queue.empty() && c.running == 0 && c.demand.Peak(now) == 0) callers_.erase(caller);
      return false;
    }
    if (c.queue.empty()) c.pass = std::max(c.pass, LowestActivePass());  // no credit for idle time
    c.queue.push_back(std::move(task));
    ++queued_;
    c.demand.Saw(c.running + static_cast<int>(c.queue.size()), now);
    return true;
  }

  struct Started {
    std::string caller;
    Task task;
    double charged_ms = 0;  // give it back to Done
    // Its caller had more work than the share cap lets it run while others were
    // active: the others' tasks should have the CPU first (WorkQueue runs it on a
    // thread of lower CPU priority).
    bool over_share = false;
  };

  // The next task to start in one of `slots`: the first waiting task of the caller
  // with the lowest pass among those under their running cap and their share cap;
  // nullopt when none may start. It counts as running until Done.
  std::optional<Started> Pop(int slots, Clock::time_point now) {
    ForgetIdle(now);
    const Reserves reserves = ReservesAt(slots, now);
    auto best = callers_.end();
    for (auto it = callers_.begin(); it != callers_.end(); ++it) {
      Caller& c = it->second;
      c.cap = ShareCap(c, slots, reserves);
      c.held_to_share = !c.queue.empty() && c.running >= c.cap;
      if (c.queue.empty() || c.held_to_share || (c.share.max_running > 0 && c.running >= c.share.max_running)) {
        continue;
      }
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
    c.held_to_share = !c.queue.empty() && c.running >= c.cap;
    next.over_share = reserves.contended && c.running + static_cast<int>(c.queue.size()) > c.cap;
    return next;
  }

  // A task Pop returned has ended after holding its slot `held_ms`.
  void Done(const Started& started, double held_ms, Clock::time_point now) {
    auto it = callers_.find(started.caller);
    if (it == callers_.end()) return;
    Caller& c = it->second;
    --c.running;
    c.pass += (held_ms - started.charged_ms) / Weight(c);
    c.usual_ms += (held_ms - c.usual_ms) * kUsualWeight;
    c.demand.Saw(c.running + static_cast<int>(c.queue.size()), now);
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
      ++it;  // an emptied caller is forgotten by the next Pop
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
  // Whether `caller` has work waiting that the last Pop passed over because it held
  // its share of the slots while others were active.
  bool HeldToShare(const std::string& caller) const {
    auto it = callers_.find(caller);
    return it != callers_.end() && it->second.held_to_share;
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

  // The most tasks a caller had in flight at once, over the last kDemandMemory or
  // so: the current window's peak and the one before it.
  class Demand {
   public:
    void Saw(int in_flight, Clock::time_point now) {
      Roll(now);
      peak_ = std::max(peak_, in_flight);
    }
    int Peak(Clock::time_point now) {
      Roll(now);
      return std::max(peak_, previous_);
    }

   private:
    void Roll(Clock::time_point now) {
      if (now - window_start_ < kDemandMemory) return;
      previous_ = now - window_start_ < 2 * kDemandMemory ? peak_ : 0;
      peak_ = 0;
      window_start_ = now;
    }
    int peak_ = 0, previous_ = 0;
    Clock::time_point window_start_{};
  };

  struct Caller {
    std::deque<Task> queue;
    int running = 0;
    double pass = 0;        // virtual time: slot-milliseconds held, divided by the weight
    double usual_ms = 1.0;  // the length charged when a task starts
    CallerShare share;
    Demand demand;
    int reserve = 0;             // the slots it keeps back from the others now (ReservesAt)
    int cap = 0;                 // the most it may hold now (ShareCap), as of the last Pop
    bool held_to_share = false;  // as of the last Pop
  };

  static double Weight(const Caller& c) { return std::max(c.share.weight, kMinWeight); }
  using Callers = std::map<std::string, Caller>;

  struct Reserves {
    int total = 0;  // of every active caller
    bool contended = false;
  };

  // Each active caller's reserve: its weight's share of `slots`, rounded down, one
  // at least, and no more than its demand.
  Reserves ReservesAt(int slots, Clock::time_point now) {
    Reserves r;
    if (!share_cap_ || callers_.size() < 2) return r;
    double weights = 0;
    int active = 0;
    for (auto& [name, c] : callers_) {
      if (c.demand.Peak(now) == 0) continue;
      weights += Weight(c);
      ++active;
    }
    r.contended = active > 1;
    if (!r.contended) return r;
    for (auto& [name, c] : callers_) {
      const int peak = c.demand.Peak(now);
      const int share = std::max(1, static_cast<int>(std::floor(slots * Weight(c) / weights)));
      c.reserve = peak == 0 ? 0 : std::min(peak, share);
      r.total += c.reserve;
    }
    return r;
  }

  // What `c` may hold: the slots the other active callers do not keep back, one at least.
  static int ShareCap(const Caller& c, int slots, const Reserves& r) {
    if (!r.contended) return std::numeric_limits<int>::max();
    return std::max(1, slots - (r.total - c.reserve));
  }

  // The lowest pass of the callers with work waiting (or the last one handed out).
  double LowestActivePass() const {
    double lowest = std::numeric_limits<double>::max();
    for (const auto& [name, c] : callers_) {
      if (!c.queue.empty()) lowest = std::min(lowest, c.pass);
    }
    return lowest == std::numeric_limits<double>::max() ? last_pass_ : lowest;
  }

  // Drops a caller with nothing waiting or running and no demand remembered: the map
  // holds active callers only.
  typename Callers::iterator Forget(typename Callers::iterator it, Clock::time_point now) {
    Caller& c = it->second;
    if (c.queue.empty() && c.running == 0 && c.demand.Peak(now) == 0) return callers_.erase(it);
    return ++it;
  }
  void ForgetIdle(Clock::time_point now) {
    for (auto it = callers_.begin(); it != callers_.end();) it = Forget(it, now);
  }

  const ShareOf share_of_;
  bool share_cap_ = true;
  Callers callers_;
  size_t queued_ = 0;
  double last_pass_ = 0;
};

}  // namespace docgate
