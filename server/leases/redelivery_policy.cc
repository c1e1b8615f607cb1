#include "server/leases/redelivery_policy.h"

#include <algorithm>

namespace docgate::leases {
namespace {

int64_t CeilSeconds(std::chrono::milliseconds d) { return (d.count() + 999) / 1000; }

}  // namespace

int RedeliveryDelaySeconds(const RedeliveryPolicy& policy, int attempt) {
  const int64_t cap = CeilSeconds(policy.backoff_max);
  int64_t delay_ms = policy.backoff.count();
  // Doubling stops at the cap, so that no attempt number overflows.
  for (int i = 1; i < attempt && delay_ms < cap * 1000; ++i) delay_ms *= 2;
  return static_cast<int>(std::min(CeilSeconds(std::chrono::milliseconds(delay_ms)), cap));
}

std::vector<int> RedeliveryDelays(const RedeliveryPolicy& policy) {
  std::vector<int> delays;
  for (int attempt = 1;; ++attempt) {
    delays.push_back(RedeliveryDelaySeconds(policy, attempt));
    if (attempt >= kMaxAttemptsLimit || (attempt > 1 && delays.back() == delays[delays.size() - 2])) break;
  }
  return delays;
}

bool IsLastAttempt(const RedeliveryPolicy& policy, int attempt, int max_attempts) {
  return attempt >= (max_attempts > 0 ? max_attempts : policy.max_attempts);
}

std::string PolicyProblem(const RedeliveryPolicy& policy) {
  if (policy.max_attempts < 1 || policy.max_attempts > kMaxAttemptsLimit) {
    return "max attempts must be 1 to " + std::to_string(kMaxAttemptsLimit);
  }
  if (policy.backoff.count() < 0 || policy.backoff_max.count() < 0) return "backoff must not be negative";
  if (policy.backoff_max < policy.backoff) return "the backoff's maximum is below its first delay";
  if (policy.backoff_max > std::chrono::hours(24)) return "the backoff's maximum is above 24h";
  return "";
}

}  // namespace docgate::leases
