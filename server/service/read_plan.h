#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/replicas/replica_set.h"
#include "server/store/cluster.h"

namespace docgate::service {

// Where a read may go, from its request's consistency and consistency_token.
struct ReadPlan {
  replicas::ReadMode mode = replicas::ReadMode::kPrimary;
  uint64_t lsn = 0;  // kFresh: the token's WAL position
  // != 0 (with kPrimary): the token's write survived a failover only if this
  // transaction committed on the primary; `if_not_committed` answers when it did not.
  uint64_t ask_xid = 0;
  absl::Status if_not_committed;
};

// INVALID_ARGUMENT, naming the field, for an unknown consistency, a token that
// `cluster` did not issue, or AT_LEAST_AS_FRESH without a token; UNAVAILABLE while
// the cluster is not known yet (no primary connection has opened); a token's answer
// after a failover as Cluster::ReadWith gives it. Whether the token's position was
// reached, and whether its transaction committed, is checked where the read runs
// (DocumentService).
absl::StatusOr<ReadPlan> PlanRead(int consistency, const std::string& token, const store::Cluster& cluster);

}  // namespace docgate::service
