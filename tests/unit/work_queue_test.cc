#include "server/exec/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <vector>

namespace docgate {
namespace {

using Clock = WorkQueue::Clock;
constexpr auto kLater = std::chrono::hours(1);

TEST(WorkQueueTest, RunsTasksInSubmissionOrderOnOneThread) {
  WorkQueue queue({1, 100});
  std::vector<int> order;
  std::promise<void> done;
  for (int i = 0; i < 10; ++i) {
    queue.Submit([&order, i] { order.push_back(i); }, [](absl::Status) { FAIL(); }, Clock::now() + kLater);
  }
  queue.Submit([&done] { done.set_value(); }, [](absl::Status) {}, Clock::now() + kLater);
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(WorkQueueTest, RejectsWhenFull) {
  WorkQueue queue({1, 1});
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  queue.Submit([&started, released] { started.set_value(); released.wait(); }, [](absl::Status) {}, Clock::now() + kLater);
  started.get_future().wait();
  queue.Submit([] {}, [](absl::Status) {}, Clock::now() + kLater);  // fills the queue
  absl::Status rejected;
  queue.Submit([] { FAIL(); }, [&](absl::Status s) { rejected = s; }, Clock::now() + kLater);
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnavailable);
  release.set_value();
}

TEST(WorkQueueTest, RejectsTasksNotStartedByTheirTime) {
  WorkQueue queue({1, 10});
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> started;
  queue.Submit([&started, released] { started.set_value(); released.wait(); }, [](absl::Status) {}, Clock::now() + kLater);
  started.get_future().wait();  // the queue is empty again: start_by may restart lower
  std::promise<absl::Status> rejected;
  const auto submitted = Clock::now();
  queue.Submit([] { FAIL(); }, [&](absl::Status s) { rejected.set_value(s); },
               submitted + std::chrono::milliseconds(100));
  auto future = rejected.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(future.get().code(), absl::StatusCode::kUnavailable);
  EXPECT_GE(Clock::now() - submitted, std::chrono::milliseconds(100));
  release.set_value();
}

TEST(WorkQueueTest, ShutdownRejectsQueuedAndWaitsForRunning) {
  auto queue = std::make_unique<WorkQueue>(WorkQueue::Options{1, 10});
  std::atomic<bool> finished{false};
  std::promise<void> started;
  queue->Submit(
      [&] {
        started.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // simulates work, not a wait for state
        finished = true;
      },
      [](absl::Status) {}, Clock::now() + kLater);
  started.get_future().wait();
  absl::Status rejected;
  queue->Submit([] { FAIL(); }, [&](absl::Status s) { rejected = s; }, Clock::now() + kLater);
  queue->Shutdown();
  EXPECT_TRUE(finished);
  EXPECT_EQ(rejected.code(), absl::StatusCode::kUnavailable);
  absl::Status after;
  queue->Submit([] { FAIL(); }, [&](absl::Status s) { after = s; }, Clock::now() + kLater);
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace docgate
