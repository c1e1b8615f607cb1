#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace docgate::leases {

// What happens to a document whose lease ran out (the poison-document bound):
// each expiry is one attempt; the expiry that reaches the bound moves the document
// to FAILED and enqueues nothing, any earlier one returns it to PENDING and
// enqueues its tasks again after a delay that doubles each attempt, up to a cap.
struct RedeliveryPolicy {
  int max_attempts = 5;                           // the default bound (a worker may set its own)
  std::chrono::milliseconds backoff{10000};       // the delay after the first expiry
  std::chrono::milliseconds backoff_max{900000};  // no delay is longer
};

// The bound a worker may ask for at its move to PROCESSING (UpdateDocumentStatusRequest.max_attempts).
constexpr int kMaxAttemptsLimit = 1000;

// Whole seconds (Celery's countdown), rounded up, before the tasks re-enqueued by the
// `attempt`-th expiry (1-based) are due: backoff * 2^(attempt-1), capped by backoff_max.
int RedeliveryDelaySeconds(const RedeliveryPolicy& policy, int attempt);

// The delays of attempts 1, 2, ... until the cap is reached (the last entry holds
// for every later attempt): what the database's expiry statement indexes.
std::vector<int> RedeliveryDelays(const RedeliveryPolicy& policy);

// Whether the `attempt`-th expiry ends the document: it reached `max_attempts`
// (the document's own bound when > 0, else the policy's).
bool IsLastAttempt(const RedeliveryPolicy& policy, int attempt, int max_attempts);

// A policy's problem, or empty: the bound is 1 to kMaxAttemptsLimit, the delays
// are not negative and the cap is not below the first delay.
std::string PolicyProblem(const RedeliveryPolicy& policy);

}  // namespace docgate::leases
