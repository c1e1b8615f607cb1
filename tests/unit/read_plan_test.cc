#include "server/service/read_plan.h"

#include <gtest/gtest.h>

#include "docgate/v1/docgate.pb.h"
#include "server/store/consistency_token.h"

namespace docgate::service {
namespace {

using replicas::ReadMode;

TEST(ReadPlanTest, NoTokenReadsThePrimaryATokenAReplicaThatHasIt) {
  EXPECT_EQ(PlanRead(v1::CONSISTENCY_UNSPECIFIED, "")->mode, ReadMode::kPrimary);
  const std::string token = store::EncodeConsistencyToken(0x16B374D848);
  auto plan = PlanRead(v1::CONSISTENCY_UNSPECIFIED, token);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->mode, ReadMode::kFresh);
  EXPECT_EQ(plan->lsn, 0x16B374D848u);
}

TEST(ReadPlanTest, ExplicitChoicesWin) {
  const std::string token = store::EncodeConsistencyToken(42);
  EXPECT_EQ(PlanRead(v1::STRONG, token)->mode, ReadMode::kPrimary);
  EXPECT_EQ(PlanRead(v1::MINIMIZE_LATENCY, token)->mode, ReadMode::kAny);
  EXPECT_EQ(PlanRead(v1::MINIMIZE_LATENCY, "")->mode, ReadMode::kAny);
  EXPECT_EQ(PlanRead(v1::AT_LEAST_AS_FRESH, token)->mode, ReadMode::kFresh);
}

TEST(ReadPlanTest, RefusesWhatCannotBeHonouredNamingTheField) {
  auto no_token = PlanRead(v1::AT_LEAST_AS_FRESH, "");
  EXPECT_EQ(no_token.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(no_token.status().message()).rfind("consistency_token:", 0), 0u);
  auto unknown = PlanRead(99, "");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(unknown.status().message()).rfind("consistency:", 0), 0u);
  EXPECT_EQ(PlanRead(v1::STRONG, "forged").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace docgate::service
