#include "server/exec/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <vector>

#include "tests/fakes/fake_clock.h"

namespace docgate {
namespace {

using testing::FakeClock;
constexpr auto kLater = std::chrono::hours(1);

// Holds a one-slot queue's slot with a task that runs until Release() (or the end
// of the holder); once constructed, that task runs and the queue is empty again.
class SlotHolder {
 public:
  SlotHolder(WorkQueue& queue, Clock& clock) {
    std::promise<void> started;
    queue.Submit(
        [&started, released = released_] {
          started.set_value();
          released.wait();
        },
        [](absl::Status) {}, clock.Now() + kLater);
    started.get_future().wait();
  }
  ~SlotHolder() { Release(); }
  void Release() {
    if (!released_done_) release_.set_value();
    released_done_ = true;
  }

 private:
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  bool released_done_ = false;
};

TEST(WorkQueueTest, RunsTasksInSubmissionOrderOnOneThread) {
  WorkQueue queue({1, 100, {}});
  std::vector<int> order;
  std::promise<void> done;
  for (int i = 0; i < 10; ++i) {
    queue.Submit([&order, i] { order.push_back(i); }, [](absl::Status) { FAIL(); }, Clock::Real().Now() + kLater);
  }
  queue.Submit([&done] { done.set_value(); }, [](absl::Status) {}, Clock::Real().Now() + kLater);
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(WorkQueueTest, RejectsWhenFull) {
  WorkQueue queue({1, 1, {}});
  SlotHolder holder(queue, Clock::Real());
  queue.Submit([] {}, [](absl::Status) {}, Clock::Real().Now() + kLater);  // fills the queue
  absl::Status rejected;
  queue.Submit([] { FAIL(); }, [&](absl::Status s) { rejected = s; }, Clock::Real().Now() + kLater);
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnavailable);
  holder.Release();
}

TEST(WorkQueueTest, RejectsTasksNotStartedByTheirTime) {
  FakeClock clock;
  WorkQueue queue({1, 10, {}}, clock);
  SlotHolder holder(queue, clock);  // the queue is empty again: start_by may restart lower
  std::atomic<int> rejections{0};
  absl::Status rejected;
  const auto start_by = clock.Now() + std::chrono::milliseconds(100);
  queue.Submit([] { FAIL(); },
               [&](absl::Status s) {
                 rejected = s;
                 ++rejections;
               },
               start_by);
  // The timer sleeps until the task's time, and rejects it only then.
  ASSERT_EQ(clock.AwaitSleeper([&](auto t) { return t == start_by; }), start_by);
  clock.Advance(std::chrono::milliseconds(99));
  EXPECT_EQ(rejections, 0);
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(testing::Eventually([&] { return rejections == 1; }));
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnavailable);
  holder.Release();
}

TEST(WorkQueueTest, LongestWaitIsTheOldestWaitingTasksAge) {
  FakeClock clock;
  WorkQueue queue({1, 10, {}}, clock);
  EXPECT_EQ(queue.LongestWait(), Clock::duration::zero());
  SlotHolder holder(queue, clock);
  EXPECT_EQ(queue.LongestWait(), Clock::duration::zero());  // running is not waiting
  std::atomic<int> ran{0};
  queue.Submit(
      WorkQueue::Ticket{"a", clock.Now() + kLater}, [&ran] { ++ran; }, [](absl::Status) {});
  clock.Advance(std::chrono::milliseconds(300));
  queue.Submit(
      WorkQueue::Ticket{"b", clock.Now() + kLater}, [&ran] { ++ran; }, [](absl::Status) {});
  clock.Advance(std::chrono::milliseconds(200));
  EXPECT_EQ(queue.LongestWait(), std::chrono::milliseconds(500));
  holder.Release();
  ASSERT_TRUE(testing::Eventually([&] { return ran == 2; }));
  EXPECT_EQ(queue.LongestWait(), Clock::duration::zero());
}

TEST(WorkQueueTest, ATaskThatThrowsEndsInItsRejectionAndTheWorkerLivesOn) {
  WorkQueue queue({1, 10, {}});
  std::promise<absl::Status> rejected;
  queue.Submit([] { throw std::runtime_error("boom"); }, [&](absl::Status s) { rejected.set_value(s); },
               Clock::Real().Now() + kLater);
  auto status = rejected.get_future();
  ASSERT_EQ(status.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const absl::Status s = status.get();
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(s.message()).find("boom"), std::string::npos);  // the reason, for the log and the call
  std::promise<void> ran;
  queue.Submit([&] { ran.set_value(); }, [](absl::Status) { FAIL(); }, Clock::Real().Now() + kLater);
  EXPECT_EQ(ran.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

TEST(WorkQueueTest, ShutdownRejectsQueuedAndWaitsForRunning) {
  auto queue = std::make_unique<WorkQueue>(WorkQueue::Options{1, 10, {}});
  std::atomic<bool> finished{false};
  std::promise<void> started;
  queue->Submit(
      [&] {
        started.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // simulates work, not a wait for state
        finished = true;
      },
      [](absl::Status) {}, Clock::Real().Now() + kLater);
  started.get_future().wait();
  absl::Status rejected;
  queue->Submit([] { FAIL(); }, [&](absl::Status s) { rejected = s; }, Clock::Real().Now() + kLater);
  queue->Shutdown();
  EXPECT_TRUE(finished);
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnavailable);
  absl::Status after;
  queue->Submit([] { FAIL(); }, [&](absl::Status s) { after = s; }, Clock::Real().Now() + kLater);
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace docgate
