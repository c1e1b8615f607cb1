// Fair admission across callers, on a fake clock: a simulation of N slots and
// callers whose tasks take different lengths, measuring the slot time each holds.
#include "server/exec/fair_scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <queue>
#include <vector>

#include "tests/fakes/fake_clock.h"

namespace docgate {
namespace {

using std::chrono::milliseconds;

struct Work {
  int length_ms;
  int seq;
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
        auto next = scheduler_.Pop();
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
      scheduler_.Done(ending.started, ms);
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
      while (scheduler_.queued(caller) < 2) scheduler_.Push(caller, Work{length, seq_++});
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
  EXPECT_TRUE(scheduler.Push("flood", 1));
  EXPECT_TRUE(scheduler.Push("flood", 2));
  EXPECT_FALSE(scheduler.Push("flood", 3));
  EXPECT_TRUE(scheduler.Push("api", 4));
  EXPECT_EQ(scheduler.queued(), 3u);
}

TEST(FairSchedulerTest, ARefusedTaskStaysWithItsOwner) {
  FairScheduler<std::unique_ptr<int>> scheduler([](const std::string&) { return CallerShare{1, 0, 1}; });
  EXPECT_TRUE(scheduler.Push("flood", std::make_unique<int>(1)));
  auto refused = std::make_unique<int>(2);
  EXPECT_FALSE(scheduler.Push("flood", std::move(refused)));
  ASSERT_NE(refused, nullptr) << "its owner still holds it, to refuse it";
  EXPECT_EQ(*refused, 2);
}

TEST(FairSchedulerTest, ACallersTasksStartInTheOrderTheyCame) {
  FairScheduler<int> scheduler([](const std::string&) { return CallerShare{}; });
  for (int i = 0; i < 5; ++i) scheduler.Push("a", int{i});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(scheduler.Pop()->task, i);
  EXPECT_FALSE(scheduler.Pop().has_value());
}

TEST(FairSchedulerTest, ExpiredFrontsAreTakenOutInOrder) {
  FairScheduler<int> scheduler([](const std::string&) { return CallerShare{}; });
  for (int i : {1, 2, 9}) scheduler.Push("a", int{i});
  for (int i : {3, 8}) scheduler.Push("b", int{i});
  const auto taken = scheduler.TakeFrontsWhile([](int due) { return due < 5; });
  EXPECT_EQ(taken, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(scheduler.queued(), 2u);
}

}  // namespace
}  // namespace docgate
