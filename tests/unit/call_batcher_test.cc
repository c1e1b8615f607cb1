#include "server/rpc/call_batcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <vector>

namespace docgate::rpc {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kLater = std::chrono::hours(1);

// A call with an int request; records how it ended.
struct Probe {
  int request = 0;
  int response = 0;
  std::atomic<bool> queued{true};
  std::promise<absl::Status> ended;

  BatchedCall<int, int> Call(Clock::time_point acquire_by = Clock::now() + kLater) {
    BatchedCall<int, int> c;
    c.request = &request;
    c.response = &response;
    c.ctx.acquire_by = acquire_by;
    c.claim = [this] { return queued.exchange(false); };
    c.finish = [this](absl::Status s) { ended.set_value(s); };
    c.reject = [this](absl::Status s) {
      if (queued.exchange(false)) ended.set_value(s);
    };
    return c;
  }
};

// Occupies the queue's only worker until released.
class BusyWorker {
 public:
  explicit BusyWorker(WorkQueue& queue) {
    std::promise<void> started;
    queue.Submit(
        [&started, released = released_.get_future().share()] {
          started.set_value();
          released.wait();
        },
        [](absl::Status) {}, Clock::now() + kLater);
    started.get_future().wait();
  }
  void Release() { released_.set_value(); }

 private:
  std::promise<void> released_;
};

TEST(CallBatcherTest, CallsQueuedMeanwhileAreServedInOneBatch) {
  WorkQueue queue({1, 100, {}});
  std::vector<size_t> batch_sizes, observed;
  CallBatcher<int, int> batcher(queue, {256, 1, [&](size_t n) { observed.push_back(n); }},
                                [&](const auto& calls, auto& statuses, const auto&) {
                                  batch_sizes.push_back(calls.size());
                                  for (size_t i = 0; i < calls.size(); ++i) {
                                    *calls[i]->response = *calls[i]->request * 10;
                                    statuses[i] = absl::OkStatus();
                                  }
                                });
  BusyWorker busy(queue);
  std::vector<Probe> probes(20);
  for (size_t i = 0; i < probes.size(); ++i) {
    probes[i].request = static_cast<int>(i);
    batcher.Add(probes[i].Call());
  }
  busy.Release();
  for (size_t i = 0; i < probes.size(); ++i) {
    ASSERT_TRUE(probes[i].ended.get_future().get().ok());
    EXPECT_EQ(probes[i].response, static_cast<int>(i) * 10);
  }
  EXPECT_EQ(batch_sizes, std::vector<size_t>{20});
  EXPECT_EQ(observed, batch_sizes) << "the size metric sees each batch";
}

TEST(CallBatcherTest, ACallFinishedElsewhereIsLeftOut) {
  WorkQueue queue({1, 100, {}});
  std::vector<int> served;
  CallBatcher<int, int> batcher(queue, {}, [&](const auto& calls, auto& statuses, const auto&) {
    for (size_t i = 0; i < calls.size(); ++i) {
      served.push_back(*calls[i]->request);
      statuses[i] = absl::OkStatus();
    }
  });
  BusyWorker busy(queue);
  Probe cancelled, kept;
  cancelled.request = 1;
  kept.request = 2;
  batcher.Add(cancelled.Call());
  batcher.Add(kept.Call());
  cancelled.queued = false;  // as when the client cancels while queued
  busy.Release();
  ASSERT_TRUE(kept.ended.get_future().get().ok());
  EXPECT_EQ(served, std::vector<int>{2});
}

TEST(CallBatcherTest, CallsPastTheirAcquireTimeAreRejectedTheOthersServed) {
  WorkQueue queue({1, 100, {}});
  CallBatcher<int, int> batcher(queue, {}, [&](const auto& calls, auto& statuses, const auto&) {
    for (size_t i = 0; i < calls.size(); ++i) statuses[i] = absl::OkStatus();
  });
  BusyWorker busy(queue);
  Probe hurried, patient;
  batcher.Add(hurried.Call(Clock::now() + std::chrono::milliseconds(50)));
  batcher.Add(patient.Call());
  auto hurried_end = hurried.ended.get_future();
  ASSERT_EQ(hurried_end.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(hurried_end.get().code(), absl::StatusCode::kUnavailable);
  busy.Release();
  EXPECT_TRUE(patient.ended.get_future().get().ok());
}

TEST(CallBatcherTest, TheEarliestDeadlineBoundsTheBatchAndTheOthersMayRetry) {
  WorkQueue queue({1, 100, {}});
  Clock::time_point batch_deadline;
  CallBatcher<int, int> batcher(queue, {}, [&](const auto& calls, auto& statuses, const auto& ctx) {
    batch_deadline = ctx.deadline;
    for (size_t i = 0; i < calls.size(); ++i) statuses[i] = absl::DeadlineExceededError("statement timed out");
  });
  BusyWorker busy(queue);
  Probe hurried, patient, expired;
  auto expired_call = expired.Call();
  expired_call.ctx.deadline = Clock::now();  // already over when the batch starts: left out of its bound
  auto hurried_call = hurried.Call();
  hurried_call.ctx.deadline = Clock::now() + std::chrono::minutes(1);
  auto patient_call = patient.Call();
  patient_call.ctx.deadline = Clock::now() + kLater;
  const auto hurried_deadline = hurried_call.ctx.deadline;
  batcher.Add(std::move(expired_call));
  batcher.Add(std::move(hurried_call));
  batcher.Add(std::move(patient_call));
  busy.Release();
  EXPECT_EQ(expired.ended.get_future().get().code(), absl::StatusCode::kDeadlineExceeded);
  // The hurried call's own deadline bounded the batch: that is its answer. The
  // patient one ran out of the batch's time, not its own: it may retry.
  EXPECT_EQ(hurried.ended.get_future().get().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(patient.ended.get_future().get().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(batch_deadline, hurried_deadline);
}

TEST(CallBatcherTest, AQueueThatRefusesRejectsEveryPendingCall) {
  WorkQueue queue({1, 100, {}});
  CallBatcher<int, int> batcher(queue, {}, [](const auto&, auto&, const auto&) { FAIL(); });
  queue.Shutdown();
  Probe probe;
  batcher.Add(probe.Call());
  EXPECT_EQ(probe.ended.get_future().get().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace docgate::rpc
