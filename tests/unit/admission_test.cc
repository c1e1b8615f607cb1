// Fair admission at the work queue: which caller's task starts next, the caps, the
// early refusals and live reconfiguration. (FairScheduler's shares over time are
// simulated in fair_scheduler_test.cc.)
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/exec/work_queue.h"
#include "tests/fakes/fake_clock.h"

namespace docgate {
namespace {

using testing::Eventually;
using testing::FakeClock;
constexpr auto kLater = std::chrono::hours(1);

int ThisThreadsNice() { return getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())); }

class RecordingObserver final : public AdmissionObserver {
 public:
  void Started(const std::string&, Clock::duration) override {}
  void Refused(const std::string& caller, Refusal refusal) override {
    std::lock_guard lock(mu_);
    refused_.push_back(caller + ":" + RefusalLabel(refusal));
  }
  std::vector<std::string> refused() const {
    std::lock_guard lock(mu_);
    return refused_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> refused_;
};

// Tasks that record the order they started in, and blockers that hold a slot
// until released. On a fake clock every task takes kTaskTime of it (it moves the
// clock itself), so the slot time each caller holds is known.
class Tasks {
 public:
  static constexpr auto kTaskTime = std::chrono::milliseconds(10);

  explicit Tasks(WorkQueue& queue, Clock& clock) : queue_(queue), clock_(clock) {}

  // Queues a task of `caller` that records `name` when it starts; the status it
  // was refused with, if it was (set on the refusing thread).
  std::shared_ptr<absl::Status> Add(const std::string& caller, const std::string& name,
                                    Clock::time_point deadline = Clock::time_point::max()) {
    auto refused = std::make_shared<absl::Status>();
    queue_.Submit(
        WorkQueue::Ticket{caller, clock_.Now() + kLater, deadline},
        [this, name] {
          {
            std::lock_guard lock(mu_);
            started_.push_back(name);
            nice_of_[name] = ThisThreadsNice();
          }
          TakeTime();
        },
        [refused](absl::Status s) { *refused = s; });
    return refused;
  }

  // Queues a task of `caller` that holds its slot until Release(); returns once
  // it runs.
  void Block(const std::string& caller) {
    auto started = std::make_shared<std::promise<void>>();
    queue_.Submit(
        WorkQueue::Ticket{caller, clock_.Now() + kLater},
        [this, started, released = released_when_] {
          started->set_value();
          released.wait();
          TakeTime();
        },
        [](absl::Status) {});
    started->get_future().wait();
  }
  void Release() { released_.set_value(); }

  std::vector<std::string> started() const {
    std::lock_guard lock(mu_);
    return started_;
  }
  // The nice value of the thread the task `name` ran on.
  int NiceOf(const std::string& name) const {
    std::lock_guard lock(mu_);
    return nice_of_.at(name);
  }
  bool StartedCount(size_t n) const {
    return Eventually([&] { return started().size() >= n; });
  }

 private:
  void TakeTime() {
    if (auto* fake = dynamic_cast<FakeClock*>(&clock_)) fake->Advance(kTaskTime);
  }

  WorkQueue& queue_;
  Clock& clock_;
  std::promise<void> released_;
  std::shared_future<void> released_when_ = released_.get_future().share();  // every blocker's
  mutable std::mutex mu_;
  std::vector<std::string> started_;
  std::map<std::string, int> nice_of_;
};

AdmissionPolicy Fair() { return AdmissionPolicy{}; }
AdmissionPolicy Fifo() {
  AdmissionPolicy p;
  p.fair = false;
  return p;
}

size_t IndexOf(const std::vector<std::string>& order, const std::string& name) {
  return static_cast<size_t>(std::find(order.begin(), order.end(), name) - order.begin());
}

TEST(AdmissionTest, AnotherCallersTaskGoesAheadOfAFloodersBacklog) {
  FakeClock clock;
  WorkQueue queue({1, 100, Fair()}, clock);
  Tasks tasks(queue, clock);
  tasks.Block("batch");
  for (int i = 0; i < 10; ++i) tasks.Add("batch", "batch-" + std::to_string(i));
  tasks.Add("api", "api");
  tasks.Release();
  ASSERT_TRUE(tasks.StartedCount(11));
  EXPECT_EQ(IndexOf(tasks.started(), "api"), 0u) << "batch has held the slot; api's task goes first";
  // Within a caller, order is kept.
  std::vector<std::string> batch;
  for (const auto& name : tasks.started()) {
    if (name != "api") batch.push_back(name);
  }
  EXPECT_TRUE(std::is_sorted(batch.begin(), batch.end(), [](const std::string& a, const std::string& b) {
    return std::stoi(a.substr(6)) < std::stoi(b.substr(6));
  }));
}

TEST(AdmissionTest, FirstComeFirstServedLeavesTheOtherCallerBehindTheBacklog) {
  FakeClock clock;
  WorkQueue queue({1, 100, Fifo()}, clock);
  Tasks tasks(queue, clock);
  tasks.Block("batch");
  for (int i = 0; i < 10; ++i) tasks.Add("batch", "batch-" + std::to_string(i));
  tasks.Add("api", "api");
  tasks.Release();
  ASSERT_TRUE(tasks.StartedCount(11));
  EXPECT_EQ(IndexOf(tasks.started(), "api"), 10u);
}

TEST(AdmissionTest, ACallerOverItsQueueCapIsRefusedResourceExhaustedAndOthersStillGetIn) {
  AdmissionPolicy policy;
  policy.callers["batch"] = CallerShare{1.0, 0, 2};
  RecordingObserver observer;
  WorkQueue queue({1, 100, policy}, Clock::Real(), &observer);
  Tasks tasks(queue, Clock::Real());
  tasks.Block("api");
  EXPECT_TRUE(tasks.Add("batch", "b1")->ok());
  EXPECT_TRUE(tasks.Add("batch", "b2")->ok());
  const auto third = tasks.Add("batch", "b3");
  EXPECT_EQ(third->code(), absl::StatusCode::kResourceExhausted) << *third;
  EXPECT_NE(third->message().find("batch"), std::string::npos) << "the message names the caller";
  EXPECT_TRUE(tasks.Add("api", "a1")->ok());
  EXPECT_EQ(observer.refused(), std::vector<std::string>{"batch:caller_queue_full"});
  tasks.Release();
  EXPECT_TRUE(tasks.StartedCount(3));
}

TEST(AdmissionTest, ARunningCapLeavesFreeSlotsToOtherCallers) {
  AdmissionPolicy policy;
  policy.callers["batch"] = CallerShare{1.0, 1, 0};
  WorkQueue queue({2, 100, policy});
  Tasks tasks(queue, Clock::Real());
  tasks.Block("batch");
  tasks.Add("batch", "b1");  // a slot is free, but batch holds its one
  tasks.Add("api", "a1");
  ASSERT_TRUE(tasks.StartedCount(1));
  EXPECT_EQ(tasks.started(), std::vector<std::string>{"a1"});
  const auto load = queue.Load();
  EXPECT_EQ(load.at("batch").running, 1);
  EXPECT_EQ(load.at("batch").queued, 1u);
  tasks.Release();
  ASSERT_TRUE(tasks.StartedCount(2));
}

TEST(AdmissionTest, WorkThatCannotStartBeforeItsDeadlineIsRefusedAtOnce) {
  FakeClock clock;
  RecordingObserver observer;
  WorkQueue queue({1, 100, Fair()}, clock, &observer);
  Tasks tasks(queue, clock);
  tasks.Block("batch");
  for (int i = 0; i < 20; ++i) tasks.Add("batch", "b");  // 20 ahead at ~1 ms each, one slot
  EXPECT_TRUE(tasks.Add("batch", "patient", clock.Now() + kLater)->ok());
  const auto hurried = tasks.Add("batch", "hurried", clock.Now() + std::chrono::milliseconds(5));
  EXPECT_EQ(hurried->code(), absl::StatusCode::kUnavailable) << *hurried;
  // Another caller is not behind batch's backlog: its task may wait.
  EXPECT_TRUE(tasks.Add("api", "api", clock.Now() + std::chrono::milliseconds(5))->ok());
  EXPECT_EQ(observer.refused(), std::vector<std::string>{"batch:would_miss_deadline"});
  // A deadline long past (the far past: no arithmetic on it overflows) is refused too.
  EXPECT_EQ(tasks.Add("batch", "late", Clock::time_point::min())->code(), absl::StatusCode::kUnavailable);
  tasks.Release();
  ASSERT_TRUE(tasks.StartedCount(22));
}

TEST(AdmissionTest, ACallerSlowedByItsOwnRunningCapIsRefusedResourceExhausted) {
  FakeClock clock;
  RecordingObserver observer;
  AdmissionPolicy policy;
  policy.callers["batch"] = CallerShare{1.0, 1, 0};
  WorkQueue queue({4, 100, policy}, clock, &observer);
  Tasks tasks(queue, clock);
  tasks.Block("batch");
  for (int i = 0; i < 20; ++i) tasks.Add("batch", "b");
  const auto hurried = tasks.Add("batch", "hurried", clock.Now() + std::chrono::milliseconds(5));
  EXPECT_EQ(hurried->code(), absl::StatusCode::kResourceExhausted) << *hurried;
  EXPECT_EQ(observer.refused(), std::vector<std::string>{"batch:caller_running_cap"});
  tasks.Release();
  ASSERT_TRUE(tasks.StartedCount(20));
}

TEST(AdmissionTest, WorkWaitingPastMaxQueueWaitIsRefusedUnavailable) {
  FakeClock clock;
  RecordingObserver observer;
  AdmissionPolicy policy;
  policy.max_queue_wait = std::chrono::milliseconds(100);
  WorkQueue queue({1, 100, policy}, clock, &observer);
  Tasks tasks(queue, clock);
  tasks.Block("batch");
  const auto expires_at = clock.Now() + std::chrono::milliseconds(100);
  const auto waiting = tasks.Add("api", "api");
  ASSERT_EQ(clock.AwaitSleeper([&](auto t) { return t == expires_at; }), expires_at);
  clock.Advance(std::chrono::milliseconds(99));
  EXPECT_TRUE(waiting->ok());
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(Eventually([&] { return !observer.refused().empty(); }));
  EXPECT_EQ(waiting->code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(observer.refused(), std::vector<std::string>{"api:queue_wait"});
  tasks.Release();
}

TEST(AdmissionTest, MoreSlotsStartWaitingWorkAtOnceAndFewerStartNothingUntilUnder) {
  WorkQueue queue({1, 100, Fair()});
  Tasks first(queue, Clock::Real());
  first.Block("a");
  first.Add("b", "b1");
  queue.Configure(2, Fair());
  ASSERT_TRUE(first.StartedCount(1)) << "a second slot serves the waiting task";

  Tasks second(queue, Clock::Real());
  second.Block("c");  // two slots held: first's and second's blockers
  queue.Configure(1, Fair());
  second.Add("d", "d1");
  first.Release();  // a's blocker ends; c's holds the one slot
  ASSERT_TRUE(Eventually([&] { return queue.Load().count("a") == 0; }));
  EXPECT_TRUE(second.started().empty()) << "d1 waits while the one slot is held";
  EXPECT_EQ(queue.Load().at("d").queued, 1u);
  second.Release();
  EXPECT_TRUE(second.StartedCount(1));
}

// The CPU is shared like the slots: while another caller is active, the tasks of
// a caller with more work than its share run at lower CPU priority; alone, or
// within its share, at the usual one.
TEST(AdmissionTest, AFloodOverItsShareRunsAtLowerCpuPriorityAndAloneAtTheUsualOne) {
  const int usual = ThisThreadsNice();
  if (usual > 19 - WorkQueue::kOverShareNice) GTEST_SKIP() << "the test already runs at nice " << usual;
  FakeClock clock;
  WorkQueue queue({2, 100, Fair()}, clock);
  Tasks tasks(queue, clock);
  tasks.Add("batch", "alone");
  ASSERT_TRUE(tasks.StartedCount(1));
  tasks.Block("api");    // api active, with one slot: batch may hold the other
  tasks.Block("batch");  // and holds it while its work queues
  for (int i = 0; i < 3; ++i) tasks.Add("batch", "batch-" + std::to_string(i));
  tasks.Release();
  ASSERT_TRUE(tasks.StartedCount(4));
  tasks.Add("api", "api");
  ASSERT_TRUE(tasks.StartedCount(5));
  EXPECT_EQ(tasks.NiceOf("alone"), usual) << "a caller alone";
  EXPECT_EQ(tasks.NiceOf("batch-0"), usual + WorkQueue::kOverShareNice) << "two more waiting beyond its one slot";
  EXPECT_EQ(tasks.NiceOf("batch-1"), usual + WorkQueue::kOverShareNice) << "one more waiting";
  EXPECT_EQ(tasks.NiceOf("batch-2"), usual) << "its last task is within its share";
  EXPECT_EQ(tasks.NiceOf("api"), usual) << "never over its share";
}

TEST(AdmissionTest, WithoutTheShareCapEveryTaskRunsAtTheUsualCpuPriority) {
  FakeClock clock;
  AdmissionPolicy policy = Fair();
  policy.share_cap = false;
  WorkQueue queue({2, 100, policy}, clock);
  Tasks tasks(queue, clock);
  tasks.Block("api");
  tasks.Block("batch");
  for (int i = 0; i < 3; ++i) tasks.Add("batch", "batch-" + std::to_string(i));
  tasks.Release();
  ASSERT_TRUE(tasks.StartedCount(3));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(tasks.NiceOf("batch-" + std::to_string(i)), ThisThreadsNice());
}

}  // namespace
}  // namespace docgate
