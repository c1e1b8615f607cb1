// Fair admission across callers, on a fake clock: a simulation of N slots and
// callers whose tasks take different lengths, measuring the slot time each holds.
#include "server/exec/fair_scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <queue>
#include <utility>
#include <vector>

#include "tests/fakes/fake_clock.h"

namespace docgate {
namespace {

using std::chrono::milliseconds;

constexpr Clock::time_point kT0{};
constexpr int kSlots = 4;

struct Work {
  int length_ms;
  int seq;
};

struct Call {
  Clock::duration length;
  Clock::time_point submitted;
};

// Runs `slots` slots for `run_for` of fake time: every caller in `backlog` always has
// work waiting (tasks of its length), and the slot time each held is summed.
class Simulation {
 public:
  Simulation(std::map<std::string, CallerShare> shares, int slots)
      : shares_(std::move(shares)), slots_(slots), scheduler_([this](const std::string& caller) {
          return shares_.count(caller) ? shares_[caller] : CallerShare{};
        }) {}

  void Backlog(const std::string& caller, int length_ms) { lengths_[caller] = length_ms; }
  void Idle(const std::string& caller) { lengths_.erase(caller); }

  // Fills the slots and runs until `run_for` has passed; returns the share of slot time each held.
  std::map<std::string, double> Run(milliseconds run_for) {
    std::map<std::string, double> held;
    const auto end = clock_.Now() + run_for;
    double total = 0;
    while (clock_.Now() < end) {
      Refill();
      while (static_cast<int>(running_.size()) < slots_) {
        auto next = scheduler_.Pop(slots_, clock_.Now());
        if (!next.has_value()) break;
        max_running_[next->caller] = std::max(max_running_[next->caller], scheduler_.running(next->caller));
        running_.push(Running{clock_.Now() + milliseconds(next->task.length_ms), *next});
      }
      // The next task to end: time moves to it.
      Running ending = running_.top();
      running_.pop();
      const auto start = ending.ends - milliseconds(ending.started.task.length_ms);
      const double ms = std::chrono::duration<double, std::milli>(ending.ends - start).count();
      held[ending.started.caller] += ms;
      total += ms;
      clock_.Advance(ending.ends - clock_.Now());
      scheduler_.Done(ending.started, ms, clock_.Now());
    }
    for (auto& [caller, ms] : held) ms /= total;
    return held;
  }

  int max_running(const std::string& caller) { return max_running_[caller]; }
  FairScheduler<Work>& scheduler() { return scheduler_; }

 private:
  struct Running {
    Clock::time_point ends;
    FairScheduler<Work>::Started started;
    bool operator<(const Running& other) const { return ends > other.ends; }  // earliest on top
  };

  // Keeps two tasks waiting per backlogged caller beyond its running ones.
  void Refill() {
    for (const auto& [caller, length] : lengths_) {
      while (scheduler_.queued(caller) < 2) scheduler_.Push(caller, Work{length, seq_++}, clock_.Now());
    }
  }

  std::map<std::string, CallerShare> shares_;
  const int slots_;
  testing::FakeClock clock_;
  FairScheduler<Work> scheduler_;
  std::map<std::string, int> lengths_;
  std::priority_queue<Running> running_;
  std::map<std::string, int> max_running_;
  int seq_ = 0;
};

void ExpectShare(const std::map<std::string, double>& held, const std::string& caller, double want) {
  ASSERT_TRUE(held.count(caller)) << caller;
  EXPECT_NEAR(held.at(caller), want, want * 0.03) << caller << " held " << held.at(caller) << ", its share is " << want;
}

TEST(FairSchedulerTest, FourFloodingCallersGetTheirWeightedShareOfSlotTimeWhateverTheirTaskLengths) {
  Simulation sim({{"a", {1, 0, 0}}, {"b", {2, 0, 0}}, {"c", {3, 0, 0}}, {"d", {4, 0, 0}}}, 8);
  sim.Backlog("a", 5);
  sim.Backlog("b", 40);  // long tasks do not buy a bigger share
  sim.Backlog("c", 2);
  sim.Backlog("d", 11);
  const auto held = sim.Run(std::chrono::seconds(120));
  ExpectShare(held, "a", 0.1);
  ExpectShare(held, "b", 0.2);
  ExpectShare(held, "c", 0.3);
  ExpectShare(held, "d", 0.4);
}

TEST(FairSchedulerTest, AnIdleCallersShareGoesToTheOthersAndItBanksNoCredit) {
  Simulation sim({{"a", {1, 0, 0}}, {"b", {1, 0, 0}}, {"c", {2, 0, 0}}}, 4);
  sim.Backlog("a", 10);
  sim.Backlog("b", 10);
  auto held = sim.Run(std::chrono::seconds(60));  // c idle: a and b split everything
  ExpectShare(held, "a", 0.5);
  ExpectShare(held, "b", 0.5);
  sim.Backlog("c", 10);
  held = sim.Run(std::chrono::seconds(1));  // c comes back: its share at once, not a minute's credit
  ExpectShare(held, "c", 0.5);
}

TEST(FairSchedulerTest, ACallersRunningCapHoldsAndItsShareGoesToTheOthers) {
  Simulation sim({{"batch", {4, 1, 0}}, {"api", {1, 0, 0}}, {"other", {1, 0, 0}}}, 8);
  sim.Backlog("batch", 10);
  sim.Backlog("api", 10);
  sim.Backlog("other", 10);
  const auto held = sim.Run(std::chrono::seconds(60));
  EXPECT_EQ(sim.max_running("batch"), 1);
  ExpectShare(held, "batch", 1.0 / 8);  // one slot of eight: its cap, below its weight's share
  ExpectShare(held, "api", 7.0 / 16);   // max-min: the rest, split by weight
  ExpectShare(held, "other", 7.0 / 16);
}

TEST(FairSchedulerTest, ACallerAtItsQueueCapIsRefusedAndOthersAreNot) {
  FairScheduler<int> scheduler([](const std::string& caller) {
    return caller == "flood" ? CallerShare{1, 0, 2} : CallerShare{};
  });
  EXPECT_TRUE(scheduler.Push("flood", 1, kT0));
  EXPECT_TRUE(scheduler.Push("flood", 2, kT0));
  EXPECT_FALSE(scheduler.Push("flood", 3, kT0));
  EXPECT_TRUE(scheduler.Push("api", 4, kT0));
  EXPECT_EQ(scheduler.queued(), 3u);
}

TEST(FairSchedulerTest, ARefusedTaskStaysWithItsOwner) {
  FairScheduler<std::unique_ptr<int>> scheduler([](const std::string&) { return CallerShare{1, 0, 1}; });
  EXPECT_TRUE(scheduler.Push("flood", std::make_unique<int>(1), kT0));
  auto refused = std::make_unique<int>(2);
  EXPECT_FALSE(scheduler.Push("flood", std::move(refused), kT0));
  ASSERT_NE(refused, nullptr) << "its owner still holds it, to refuse it";
  EXPECT_EQ(*refused, 2);
}

TEST(FairSchedulerTest, ACallersTasksStartInTheOrderTheyCame) {
  FairScheduler<int> scheduler([](const std::string&) { return CallerShare{}; });
  for (int i = 0; i < 5; ++i) scheduler.Push("a", int{i}, kT0);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(scheduler.Pop(kSlots, kT0)->task, i);
  EXPECT_FALSE(scheduler.Pop(kSlots, kT0).has_value());
}

TEST(FairSchedulerTest, ExpiredFrontsAreTakenOutInOrder) {
  FairScheduler<int> scheduler([](const std::string&) { return CallerShare{}; });
  for (int i : {1, 2, 9}) scheduler.Push("a", int{i}, kT0);
  for (int i : {3, 8}) scheduler.Push("b", int{i}, kT0);
  const auto taken = scheduler.TakeFrontsWhile([](int due) { return due < 5; });
  EXPECT_EQ(taken, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(scheduler.queued(), 2u);
}

// Slots, on a fake clock, shared by a flood of long tasks (always 96 waiting) and
// `clients` callers of short tasks, each with one call at a time that comes back a
// little after the last ended, as a client's loop does. Every event (a task's end, a
// call's arrival) starts what the scheduler lets start.
class Contention {
 public:
  Contention(int slots, bool share_cap) : slots_(slots), scheduler_([](const std::string&) { return CallerShare{}; }) {
    scheduler_.SetShareCap(share_cap);
  }

  // The flood: `length` per task, from now on.
  void Flood(milliseconds length) {
    flood_ = length;
    TopUp();
    Fill();
  }
  // `clients` short callers of "api", each call `length` long, `gap` apart.
  void Clients(int clients, std::chrono::microseconds length, std::chrono::microseconds gap) {
    api_length_ = length;
    api_gap_ = gap;
    for (int i = 0; i < clients; ++i) Arrive();
    Fill();
  }
  void StopClients() { clients_stopped_ = true; }

  void RunFor(Clock::duration d) {
    const auto end = clock_.Now() + d;
    while (!events_.empty() && events_.begin()->first <= end) {
      auto [at, event] = *events_.begin();
      events_.erase(events_.begin());
      clock_.Advance(at - clock_.Now());
      if (event.arrival) {
        Arrive();
      } else {
        --running_;
        if (event.started.caller == "flood") --flood_running_;
        scheduler_.Done(event.started, Ms(event.started.task.length), clock_.Now());
        if (event.started.caller == "api" && !clients_stopped_) {
          events_.emplace(clock_.Now() + api_gap_, Event{true, {}});
        }
        TopUp();
      }
      Fill();
    }
    clock_.Advance(end - clock_.Now());
  }

  // The longest an api call waited for a slot, since the last call; and clears it.
  double TakeLongestApiWaitMs() { return std::exchange(longest_api_wait_ms_, 0); }
  int flood_running() const { return flood_running_; }
  int most_flood_running() { return std::exchange(most_flood_running_, 0); }
  FairScheduler<Call>& scheduler() { return scheduler_; }

 private:
  struct Event {
    bool arrival;
    FairScheduler<Call>::Started started;
  };
  static double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

  void Arrive() { scheduler_.Push("api", Call{api_length_, clock_.Now()}, clock_.Now()); }
  void TopUp() {
    if (flood_.count() == 0) return;
    while (scheduler_.queued("flood") < 96) scheduler_.Push("flood", Call{flood_, clock_.Now()}, clock_.Now());
  }
  void Fill() {
    while (running_ < slots_) {
      auto next = scheduler_.Pop(slots_, clock_.Now());
      if (!next.has_value()) return;
      ++running_;
      if (next->caller == "flood") most_flood_running_ = std::max(most_flood_running_, ++flood_running_);
      if (next->caller == "api") {
        longest_api_wait_ms_ = std::max(longest_api_wait_ms_, Ms(clock_.Now() - next->task.submitted));
      }
      const auto ends = clock_.Now() + next->task.length;
      events_.emplace(ends, Event{false, std::move(*next)});
    }
  }

  const int slots_;
  testing::FakeClock clock_;
  FairScheduler<Call> scheduler_;
  std::multimap<Clock::time_point, Event> events_;
  milliseconds flood_{0};
  std::chrono::microseconds api_length_{0}, api_gap_{0};
  bool clients_stopped_ = false;
  int running_ = 0, flood_running_ = 0, most_flood_running_ = 0;
  double longest_api_wait_ms_ = 0;
};

TEST(FairSchedulerShareCapTest, ShortCallsWaitForNoLongTaskWhileAFloodOfThemIsHeldToItsShare) {
  Contention pool(4, /*share_cap=*/true);
  pool.Flood(milliseconds(100));  // a 1,000-row page, say
  EXPECT_EQ(pool.most_flood_running(), 4) << "alone, the flood has every slot";
  pool.Clients(2, std::chrono::microseconds(500), std::chrono::microseconds(200));
  pool.RunFor(std::chrono::seconds(1));  // the flood's running tasks end; from then on it holds two
  pool.TakeLongestApiWaitMs();
  pool.most_flood_running();
  pool.RunFor(std::chrono::seconds(10));
  EXPECT_EQ(pool.TakeLongestApiWaitMs(), 0) << "a short call found a slot free every time";
  EXPECT_EQ(pool.most_flood_running(), 2) << "the flood keeps the two slots the two clients do not need";
  EXPECT_TRUE(pool.scheduler().HeldToShare("flood"));
  EXPECT_FALSE(pool.scheduler().HeldToShare("api"));
}

TEST(FairSchedulerShareCapTest, WithoutTheCapShortCallsWaitForLongTasksToEnd) {
  Contention pool(4, /*share_cap=*/false);
  pool.Flood(milliseconds(100));
  pool.Clients(2, std::chrono::microseconds(500), std::chrono::microseconds(200));
  pool.RunFor(std::chrono::seconds(10));
  EXPECT_GT(pool.TakeLongestApiWaitMs(), 10) << "what the cap is for";
  EXPECT_FALSE(pool.scheduler().HeldToShare("flood"));
}

TEST(FairSchedulerShareCapTest, TheFloodHasEverySlotAgainOnceTheOthersDemandIsForgotten) {
  Contention pool(4, /*share_cap=*/true);
  pool.Flood(milliseconds(100));
  pool.Clients(2, std::chrono::microseconds(500), std::chrono::microseconds(200));
  pool.RunFor(std::chrono::seconds(2));
  pool.StopClients();
  pool.RunFor(std::chrono::milliseconds(10));
  pool.most_flood_running();
  pool.RunFor(FairScheduler<Call>::kDemandMemory * 2 + std::chrono::milliseconds(200));
  EXPECT_EQ(pool.flood_running(), 4);
  EXPECT_FALSE(pool.scheduler().HeldToShare("flood"));
}

TEST(FairSchedulerShareCapTest, ACallerThatNeedsOneSlotKeepsBackOne) {
  Contention pool(4, /*share_cap=*/true);
  pool.Flood(milliseconds(100));
  pool.Clients(1, std::chrono::microseconds(500), std::chrono::microseconds(200));
  pool.RunFor(std::chrono::seconds(2));
  pool.most_flood_running();
  pool.TakeLongestApiWaitMs();
  pool.RunFor(std::chrono::seconds(5));
  EXPECT_EQ(pool.most_flood_running(), 3);
  EXPECT_EQ(pool.TakeLongestApiWaitMs(), 0);
}

}  // namespace
}  // namespace docgate
