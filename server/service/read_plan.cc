#include "server/service/read_plan.h"

#include "docgate/v1/docgate.pb.h"

namespace docgate::service {

namespace {

absl::StatusOr<replicas::ReadMode> ModeOf(int consistency, const std::string& token) {
  switch (consistency) {
    case v1::CONSISTENCY_UNSPECIFIED: return token.empty() ? replicas::ReadMode::kPrimary : replicas::ReadMode::kFresh;
    case v1::STRONG: return replicas::ReadMode::kPrimary;
    case v1::AT_LEAST_AS_FRESH:
      if (token.empty()) return absl::InvalidArgumentError("consistency_token: required with AT_LEAST_AS_FRESH");
      return replicas::ReadMode::kFresh;
    case v1::MINIMIZE_LATENCY: return replicas::ReadMode::kAny;
    default: return absl::InvalidArgumentError("consistency: unknown value");
  }
}

}  // namespace

absl::StatusOr<ReadPlan> PlanRead(int consistency, const std::string& token, const store::Cluster& cluster) {
  const auto mode = ModeOf(consistency, token);
  if (!mode.ok()) return mode.status();
  ReadPlan plan;
  plan.mode = *mode;
  if (token.empty()) return plan;
  auto read = cluster.ReadWith(token);
  if (!read.ok()) return read.status();
  plan.lsn = read->lsn;
  plan.ask_xid = read->ask_xid;
  plan.if_not_committed = std::move(read->if_not_committed);
  // Only the primary can say whether that transaction committed there.
  if (plan.ask_xid != 0 && plan.mode == replicas::ReadMode::kFresh) plan.mode = replicas::ReadMode::kPrimary;
  return plan;
}

}  // namespace docgate::service
