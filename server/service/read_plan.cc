#include "server/service/read_plan.h"

#include "docgate/v1/docgate.pb.h"

namespace docgate::service {

absl::StatusOr<ReadPlan> PlanRead(int consistency, const std::string& token, const store::Cluster& cluster) {
  ReadPlan plan;
  if (!token.empty()) {
    auto lsn = cluster.TokenPosition(token);
    if (!lsn.ok()) return lsn.status();
    plan.lsn = *lsn;
  }
  switch (consistency) {
    case v1::CONSISTENCY_UNSPECIFIED:
      plan.mode = token.empty() ? replicas::ReadMode::kPrimary : replicas::ReadMode::kFresh;
      return plan;
    case v1::STRONG: plan.mode = replicas::ReadMode::kPrimary; return plan;
    case v1::AT_LEAST_AS_FRESH:
      if (token.empty()) {
        return absl::InvalidArgumentError("consistency_token: required with AT_LEAST_AS_FRESH");
      }
      plan.mode = replicas::ReadMode::kFresh;
      return plan;
    case v1::MINIMIZE_LATENCY: plan.mode = replicas::ReadMode::kAny; return plan;
    default: return absl::InvalidArgumentError("consistency: unknown value");
  }
}

}  // namespace docgate::service
