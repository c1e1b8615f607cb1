// Tokens across timelines: what a write's token means on a primary promoted after
// a failover, decided from the primary's timeline history (and, at the edge, from
// whether the write's transaction committed there).
#include "server/store/token_fate.h"

#include <gtest/gtest.h>

#include "docgate/v1/docgate.pb.h"
#include "server/service/read_plan.h"
#include "server/store/cluster.h"
#include "server/store/consistency_token.h"

namespace docgate::store {
namespace {

constexpr uint64_t kCluster = 7713780524097078169u;
constexpr uint64_t kSwitch = 0x5000000;  // timeline 1 ended here; 2 began

// Timeline 2, branched from 1 at kSwitch (as PostgreSQL writes 00000002.history).
PrimaryTimeline AfterOneFailover() { return PrimaryTimeline{2, std::vector<TimelineSwitch>{{1, kSwitch}}}; }

// A write on timeline 1: its transaction, a position before its commit, one after.
WritePosition WriteOn1(uint64_t before_commit, uint64_t after) { return WritePosition{after, 1, 777, before_commit}; }

TEST(TimelineHistoryTest, ReadsPostgresqlsHistoryFile) {
  const auto history = ParseTimelineHistory(
      "1\t0/5000000\tno recovery target specified\n\n2\t1/A0000B8\tat restore point \"x\"\n# a comment\n");
  ASSERT_TRUE(history.has_value());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].timeline, 1u);
  EXPECT_EQ((*history)[0].switchpoint, 0x5000000u);
  EXPECT_EQ((*history)[1].timeline, 2u);
  EXPECT_EQ((*history)[1].switchpoint, 0x10A0000B8u);
  EXPECT_TRUE(ParseTimelineHistory("")->empty());
  EXPECT_FALSE(ParseTimelineHistory("one\t0/5000000\n").has_value());
  EXPECT_FALSE(ParseTimelineHistory("1\tnot-an-lsn\n").has_value());
  EXPECT_FALSE(ParseTimelineHistory("1\n").has_value());
}

TEST(TokenFateTest, OnThePrimarysTimelineOrUnknownThePositionIsRead) {
  EXPECT_EQ(FateOf(WritePosition{42, 2, 1, 40}, AfterOneFailover()).fate, Fate::kCurrent);
  EXPECT_EQ(FateOf(WritePosition{42, 0, 0, 0}, AfterOneFailover()).fate, Fate::kCurrent);  // an earlier docgate's
  EXPECT_EQ(FateOf(WritePosition{42, 1, 1, 40}, PrimaryTimeline{}).fate, Fate::kCurrent);  // primary not known yet
  EXPECT_EQ(FateOf(WritePosition{42, 2, 1, 40}, AfterOneFailover()).read_at, 42u);
}

TEST(TokenFateTest, AWriteCommittedBeforeTheSwitchPointSurvived) {
  const auto fate = FateOf(WriteOn1(kSwitch - 100, kSwitch), AfterOneFailover());
  EXPECT_EQ(fate.fate, Fate::kSurvived);
  EXPECT_EQ(fate.read_at, kSwitch);
}

TEST(TokenFateTest, AWriteWhoseCommitBeganAtOrPastTheSwitchPointWasLost) {
  EXPECT_EQ(FateOf(WriteOn1(kSwitch, kSwitch + 200), AfterOneFailover()).fate, Fate::kLost);
  EXPECT_EQ(FateOf(WriteOn1(kSwitch + 1, kSwitch + 200), AfterOneFailover()).fate, Fate::kLost);
  EXPECT_EQ(FateOf(WriteOn1(kSwitch + 1, kSwitch + 200), AfterOneFailover()).switchpoint, kSwitch);
}

TEST(TokenFateTest, ACommitThatStraddlesTheSwitchPointIsAskedOfThePrimary) {
  const auto fate = FateOf(WriteOn1(kSwitch - 1, kSwitch + 1), AfterOneFailover());
  EXPECT_EQ(fate.fate, Fate::kAskPrimary);
  EXPECT_EQ(fate.read_at, kSwitch);  // if it committed, its commit ended by the switch
}

TEST(TokenFateTest, PastTheSwitchPointWithoutATransactionCannotBeTold) {
  // A create that found its row answers a position alone: lost or not, unknown.
  EXPECT_EQ(FateOf(WritePosition{kSwitch + 1, 1, 0, 0}, AfterOneFailover()).fate, Fate::kCannotTell);
  EXPECT_EQ(FateOf(WritePosition{kSwitch - 1, 1, 0, 0}, AfterOneFailover()).fate, Fate::kSurvived);
}

TEST(TokenFateTest, WithoutTheHistoryAnEarlierTimelinesWriteCannotBeTold) {
  EXPECT_EQ(FateOf(WriteOn1(1, 2), PrimaryTimeline{2, std::nullopt}).fate, Fate::kCannotTell);
}

TEST(TokenFateTest, SeveralFailoversUseTheTokensOwnTimelinesSwitchPoint) {
  const PrimaryTimeline third{3, std::vector<TimelineSwitch>{{1, kSwitch}, {2, 2 * kSwitch}}};
  EXPECT_EQ(FateOf(WriteOn1(kSwitch + 1, kSwitch + 2), third).fate, Fate::kLost);
  EXPECT_EQ(FateOf(WritePosition{kSwitch + 2, 2, 9, kSwitch + 1}, third).fate, Fate::kSurvived);
  EXPECT_EQ(FateOf(WritePosition{2 * kSwitch + 2, 2, 9, 2 * kSwitch + 1}, third).fate, Fate::kLost);
}

TEST(TokenFateTest, ASiblingTimelinesWriteIsNotThePrimarys) {
  // Timeline 3 branched from 1; timeline 2 was another standby's promotion.
  const PrimaryTimeline third{3, std::vector<TimelineSwitch>{{1, kSwitch}}};
  EXPECT_EQ(FateOf(WritePosition{kSwitch - 10, 2, 9, kSwitch - 20}, third).fate, Fate::kLost);
}

TEST(TokenFateTest, ALaterTimelineThanThePrimarysMeansAReplacedPrimary) {
  EXPECT_EQ(FateOf(WritePosition{42, 3, 1, 40}, AfterOneFailover()).fate, Fate::kAhead);
}

TEST(ConsistencyTokenTest, CarriesTheTimelineAndTransactionAndReadsEarlierTokens) {
  const WritePosition at{0x16B374D848, 7, 123456789, 0x16B374D000};
  const auto back = DecodeConsistencyToken(EncodeConsistencyToken(kCluster, at), kCluster);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->lsn, at.lsn);
  EXPECT_EQ(back->timeline, at.timeline);
  EXPECT_EQ(back->xid, at.xid);
  EXPECT_EQ(back->before_commit, at.before_commit);
  // Version 2 (a position alone): the rest unknown.
  const auto earlier = DecodeConsistencyToken(EncodeConsistencyToken(kCluster, WritePosition{42}), kCluster);
  ASSERT_TRUE(earlier.ok());
  EXPECT_EQ(earlier->lsn, 42u);
  EXPECT_EQ(earlier->timeline, 0u);
  EXPECT_EQ(DecodeConsistencyToken(EncodeConsistencyToken(kCluster + 1, at), kCluster).status().code(),
            absl::StatusCode::kInvalidArgument);
}

struct FailedOverCluster : Cluster {
  FailedOverCluster() {
    SetSystemIdentifier(kCluster);
    SetPrimaryTimeline(PrimaryTimeline{1, std::vector<TimelineSwitch>{}});
    SetPrimaryTimeline(AfterOneFailover());
  }
};

TEST(ClusterTokenTest, ALostWriteIsDataLossSayingWhereTheTimelineBranched) {
  FailedOverCluster cluster;
  const auto read = cluster.ReadWith(EncodeConsistencyToken(kCluster, WriteOn1(kSwitch + 8, kSwitch + 16)));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("lost in a failover"), std::string::npos) << read.status();
  EXPECT_NE(read.status().message().find("0/5000000"), std::string::npos) << read.status();
}

TEST(ClusterTokenTest, ASurvivingWriteReadsAtItsPositionAndAStraddlingOneAsksThePrimary) {
  FailedOverCluster cluster;
  const auto survived = cluster.ReadWith(EncodeConsistencyToken(kCluster, WriteOn1(kSwitch - 64, kSwitch - 8)));
  ASSERT_TRUE(survived.ok()) << survived.status();
  EXPECT_EQ(survived->lsn, kSwitch - 8);
  EXPECT_EQ(survived->ask_xid, 0u);
  const auto straddling = cluster.ReadWith(EncodeConsistencyToken(kCluster, WriteOn1(kSwitch - 8, kSwitch + 8)));
  ASSERT_TRUE(straddling.ok()) << straddling.status();
  EXPECT_EQ(straddling->ask_xid, 777u);
  EXPECT_EQ(straddling->if_not_committed.code(), absl::StatusCode::kDataLoss);
  // Its read goes to the primary, the one that can say.
  const auto plan = service::PlanRead(v1::AT_LEAST_AS_FRESH,
                                      EncodeConsistencyToken(kCluster, WriteOn1(kSwitch - 8, kSwitch + 8)), cluster);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->mode, replicas::ReadMode::kPrimary);
}

TEST(ClusterTokenTest, UntellableIsFailedPreconditionAndAReplacedPrimaryUnavailable) {
  FailedOverCluster cluster;
  EXPECT_EQ(cluster.ReadWith(EncodeConsistencyToken(kCluster, WritePosition{kSwitch + 8, 1, 0, 0})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(cluster.ReadWith(EncodeConsistencyToken(kCluster, WritePosition{8, 3, 5, 4})).status().code(),
            absl::StatusCode::kUnavailable);
  // Tokens of the primary's own timeline, and of an earlier docgate, read as before.
  EXPECT_TRUE(cluster.ReadWith(EncodeConsistencyToken(kCluster, WritePosition{kSwitch + 8, 2, 5, 4})).ok());
  EXPECT_TRUE(cluster.ReadWith(EncodeConsistencyToken(kCluster, WritePosition{kSwitch + 8})).ok());
}

TEST(ClusterTokenTest, AnEarlierTimelineLearnedLaterChangesNothing) {
  FailedOverCluster cluster;
  cluster.SetPrimaryTimeline(PrimaryTimeline{1, std::vector<TimelineSwitch>{}});  // the old primary, briefly
  EXPECT_EQ(cluster.timeline(), 2u);
}

}  // namespace
}  // namespace docgate::store
