#include "server/service/read_plan.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace docgate::service
