#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/replicas/replica_set.h"

namespace docgate::service {

// Where a read may go, from its request's consistency and consistency_token.
struct ReadPlan {
  replicas::ReadMode mode = replicas::ReadMode::kPrimary;
  uint64_t lsn = 0;  // kFresh: the token's WAL position
};

// INVALID_ARGUMENT, naming the field, for an unknown consistency, a malformed
// token, or AT_LEAST_AS_FRESH without a token.
absl::StatusOr<ReadPlan> PlanRead(int consistency, const std::string& token);

}  // namespace docgate::service
