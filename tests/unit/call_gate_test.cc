// The shutdown gate: admitted calls are waited for, later ones refused.
#include "server/rpc/call_gate.h"

#include <gtest/gtest.h>

#include <thread>

namespace docgate::rpc {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

TEST(CallGateTest, AdmitsUntilClosedThenRefuses) {
  CallGate gate;
  ASSERT_TRUE(gate.Enter());
  EXPECT_EQ(gate.active(), 1);
  gate.Close();
  EXPECT_FALSE(gate.Enter());
  EXPECT_EQ(gate.active(), 1);  // a refused call leaves no trace
  gate.Leave();
  EXPECT_EQ(gate.active(), 0);
}

TEST(CallGateTest, DrainWaitsForTheAdmittedCallsAndNoLonger) {
  CallGate gate;
  ASSERT_TRUE(gate.Enter());
  gate.Close();
  EXPECT_FALSE(gate.WaitDrained(Clock::now() + milliseconds(1)));  // still running: the deadline ends the wait
  std::thread finisher([&gate] { gate.Leave(); });
  EXPECT_TRUE(gate.WaitDrained(Clock::now() + std::chrono::seconds(10)));
  finisher.join();
}

TEST(CallGateTest, DrainedAtOnceWhenNothingRuns) {
  CallGate gate;
  gate.Close();
  EXPECT_TRUE(gate.WaitDrained(Clock::now()));
}

TEST(CallGateTest, EveryCallIsEitherRefusedOrWaitedFor) {
  // Many threads enter while the gate closes: each admitted call must be counted by
  // the drain, and none may be admitted once the drain has seen the gate empty.
  for (int round = 0; round < 50; ++round) {
    CallGate gate;
    std::atomic<int> admitted_after_drain{0};
    std::atomic<bool> drained{false};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&] {
        for (int i = 0; i < 200; ++i) {
          if (!gate.Enter()) continue;
          if (drained.load()) admitted_after_drain.fetch_add(1);
          gate.Leave();
        }
      });
    }
    gate.Close();
    ASSERT_TRUE(gate.WaitDrained(Clock::now() + std::chrono::seconds(10)));
    drained.store(true);
    for (auto& c : callers) c.join();
    EXPECT_EQ(admitted_after_drain.load(), 0);
  }
}

}  // namespace
}  // namespace docgate::rpc
