#include "server/leases/redelivery_policy.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace docgate::leases {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RedeliveryPolicyTest, TheDelayDoublesEachAttemptUpToItsCap) {
  const RedeliveryPolicy policy{5, seconds(10), seconds(60)};
  EXPECT_EQ(RedeliveryDelaySeconds(policy, 1), 10);
  EXPECT_EQ(RedeliveryDelaySeconds(policy, 2), 20);
  EXPECT_EQ(RedeliveryDelaySeconds(policy, 3), 40);
  EXPECT_EQ(RedeliveryDelaySeconds(policy, 4), 60);
  EXPECT_EQ(RedeliveryDelaySeconds(policy, 1000), 60) << "no attempt number overflows the doubling";
  EXPECT_EQ(RedeliveryDelays(policy), (std::vector<int>{10, 20, 40, 60, 60}))
      << "the schedule ends once the cap repeats: the database uses its last entry for later attempts";
}

TEST(RedeliveryPolicyTest, DelaysAreWholeSecondsRoundedUpAndZeroMeansNone) {
  EXPECT_EQ(RedeliveryDelaySeconds({5, milliseconds(1500), seconds(10)}, 1), 2);
  EXPECT_EQ(RedeliveryDelaySeconds({5, milliseconds(1500), seconds(10)}, 2), 3);
  EXPECT_EQ(RedeliveryDelays({5, milliseconds(0), milliseconds(0)}), (std::vector<int>{0, 0}));
}

TEST(RedeliveryPolicyTest, TheBoundIsTheDocumentsOwnElseThePolicys) {
  const RedeliveryPolicy policy{5, seconds(1), seconds(1)};
  EXPECT_FALSE(IsLastAttempt(policy, 4, 0));
  EXPECT_TRUE(IsLastAttempt(policy, 5, 0));
  EXPECT_TRUE(IsLastAttempt(policy, 1, 1));
  EXPECT_FALSE(IsLastAttempt(policy, 5, 10));
  EXPECT_TRUE(IsLastAttempt(policy, 6, 0)) << "attempts kept past the bound (a retry that kept them) end it again";
}

TEST(RedeliveryPolicyTest, AnUnusablePolicyIsNamed) {
  EXPECT_EQ(PolicyProblem(RedeliveryPolicy{}), "");
  EXPECT_NE(PolicyProblem({0, seconds(1), seconds(1)}), "");
  EXPECT_NE(PolicyProblem({kMaxAttemptsLimit + 1, seconds(1), seconds(1)}), "");
  EXPECT_NE(PolicyProblem({5, seconds(10), seconds(5)}), "");
  EXPECT_NE(PolicyProblem({5, seconds(-1), seconds(5)}), "");
  EXPECT_NE(PolicyProblem({5, seconds(1), hours(25)}), "");
}

// A poisoned document's life on a fake clock, as the sweeper and the relay make it:
// a worker takes a 30 s lease as soon as its task is due and dies; the lease runs
// out, counts an attempt, and the task is due again after the policy's delay.
TEST(RedeliveryPolicyTest, APoisonedDocumentIsTriedExactlyItsBoundWithGrowingGapsThenFails) {
  testing::FakeClock clock;
  const RedeliveryPolicy policy{5, seconds(10), hours(1)};
  const auto lease = seconds(30);
  int attempts = 0;
  bool failed = false;
  std::vector<Clock::time_point> taken_at;
  Clock::time_point due = clock.Now();
  while (!failed) {
    ASSERT_LT(attempts, 100) << "the document is redelivered forever";
    clock.Advance(due - clock.Now());
    taken_at.push_back(clock.Now());  // the task runs, takes the lease, and kills its worker
    clock.Advance(lease);             // the lease runs out
    ++attempts;
    failed = IsLastAttempt(policy, attempts, 0);
    if (!failed) due = clock.Now() + seconds(RedeliveryDelaySeconds(policy, attempts));
  }
  EXPECT_EQ(attempts, 5);
  ASSERT_EQ(taken_at.size(), 5u);
  std::vector<Clock::duration> gaps;
  for (size_t i = 1; i < taken_at.size(); ++i) gaps.push_back(taken_at[i] - taken_at[i - 1]);
  EXPECT_EQ(gaps, (std::vector<Clock::duration>{seconds(40), seconds(50), seconds(70), seconds(110)}))
      << "each gap is the lease plus a delay that doubles";
}

}  // namespace
}  // namespace docgate::leases
