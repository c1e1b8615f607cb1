#include "server/service/read_plan.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "docgate/v1/docgate.pb.h"
#include "server/store/cluster.h"
#include "server/store/consistency_token.h"

namespace docgate::service {
namespace {

using replicas::ReadMode;

constexpr uint64_t kSystemIdentifier = 7713780524097078169u;

struct KnownCluster : store::Cluster {
  KnownCluster() { SetSystemIdentifier(kSystemIdentifier); }
};

TEST(ReadPlanTest, NoTokenReadsThePrimaryATokenAReplicaThatHasIt) {
  const KnownCluster cluster;
  EXPECT_EQ(PlanRead(v1::CONSISTENCY_UNSPECIFIED, "", cluster)->mode, ReadMode::kPrimary);
  const std::string token = store::EncodeConsistencyToken(kSystemIdentifier, store::WritePosition{0x16B374D848});
  auto plan = PlanRead(v1::CONSISTENCY_UNSPECIFIED, token, cluster);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->mode, ReadMode::kFresh);
  EXPECT_EQ(plan->lsn, 0x16B374D848u);
}

TEST(ReadPlanTest, ExplicitChoicesWin) {
  const KnownCluster cluster;
  const std::string token = store::EncodeConsistencyToken(kSystemIdentifier, store::WritePosition{42});
  EXPECT_EQ(PlanRead(v1::STRONG, token, cluster)->mode, ReadMode::kPrimary);
  EXPECT_EQ(PlanRead(v1::MINIMIZE_LATENCY, token, cluster)->mode, ReadMode::kAny);
  EXPECT_EQ(PlanRead(v1::MINIMIZE_LATENCY, "", cluster)->mode, ReadMode::kAny);
  EXPECT_EQ(PlanRead(v1::AT_LEAST_AS_FRESH, token, cluster)->mode, ReadMode::kFresh);
}

TEST(ReadPlanTest, RefusesWhatCannotBeHonouredNamingTheField) {
  const KnownCluster cluster;
  auto no_token = PlanRead(v1::AT_LEAST_AS_FRESH, "", cluster);
  EXPECT_EQ(no_token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(no_token.status().message()).rfind("consistency_token:", 0), 0u);
  auto unknown = PlanRead(99, "", cluster);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(unknown.status().message()).rfind("consistency:", 0), 0u);
  EXPECT_EQ(PlanRead(v1::STRONG, "forged", cluster).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReadPlanTest, ATokenOfAnotherClusterIsRefusedAndNoneCanBeCheckedBeforeTheClusterIsKnown) {
  const KnownCluster cluster;
  const std::string elsewhere = store::EncodeConsistencyToken(kSystemIdentifier + 1, store::WritePosition{42});
  const auto refused = PlanRead(v1::CONSISTENCY_UNSPECIFIED, elsewhere, cluster);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(refused.status().message()).rfind("consistency_token:", 0), 0u);
  const store::Cluster unknown;
  const std::string token = store::EncodeConsistencyToken(kSystemIdentifier, store::WritePosition{42});
  EXPECT_EQ(PlanRead(v1::CONSISTENCY_UNSPECIFIED, token, unknown).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(PlanRead(v1::CONSISTENCY_UNSPECIFIED, "", unknown).ok());  // no token: nothing to check
}

TEST(ClusterTest, RemembersTheFurthestPositionAndForgetsItForAnotherCluster) {
  store::Cluster cluster;
  cluster.SetSystemIdentifier(kSystemIdentifier);
  cluster.Reached(100);
  cluster.Reached(40);  // older news
  EXPECT_EQ(cluster.reached(), 100u);
  cluster.SetSystemIdentifier(kSystemIdentifier);  // a new connection to the same cluster
  EXPECT_EQ(cluster.reached(), 100u);
  cluster.SetSystemIdentifier(kSystemIdentifier + 1);
  EXPECT_EQ(cluster.reached(), 0u);
}

TEST(ClusterTest, AnotherClusterBehindTheUrlStartsItsTimelineAfresh) {
  store::Cluster cluster;
  cluster.SetSystemIdentifier(kSystemIdentifier);
  const auto t0 = std::chrono::system_clock::time_point{} + std::chrono::hours(1);
  cluster.SawPrimary("pg-a:5432", 3, t0);
  cluster.SetPrimaryTimeline(store::PrimaryTimeline{3, std::vector<store::TimelineSwitch>{{1, 0x1000}, {2, 0x2000}}});
  // A fresh cluster (initdb'd again, or another one at the same address) starts at timeline 1.
  cluster.SetSystemIdentifier(kSystemIdentifier + 1);
  EXPECT_EQ(cluster.timeline(), 0u);
  cluster.SawPrimary("pg-a:5432", 1, t0 + std::chrono::minutes(1));
  cluster.SetPrimaryTimeline(store::PrimaryTimeline{1, std::vector<store::TimelineSwitch>{}});
  EXPECT_EQ(cluster.timeline(), 1u);
  EXPECT_EQ(cluster.primary().timeline, 1u);
  EXPECT_EQ(cluster.primary().since, t0 + std::chrono::minutes(1));
  EXPECT_EQ(cluster.primary().changes, 1);
  // Its tokens are read at their position, not judged by the old cluster's history
  // (there, timeline 1 ended at 0x1000, and this write would be DATA_LOSS).
  const std::string token =
      store::EncodeConsistencyToken(kSystemIdentifier + 1, store::WritePosition{0x5000, 1, 7, 0x4800});
  const auto read = cluster.ReadWith(token);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->lsn, 0x5000u);
  EXPECT_EQ(read->ask_xid, 0u);
}

}  // namespace
}  // namespace docgate::service
