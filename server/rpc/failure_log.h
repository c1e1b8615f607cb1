#pragma once

#include <chrono>
#include <string>

#include "absl/status/status.h"

namespace docgate::rpc {

// One log line for a failed RPC: request id, method, code, duration, SQLSTATE.
// No payloads, no secrets. Levels: INTERNAL is an error, unavailability and
// refused credentials a warning, the rest (the client's own mistakes) info. Codes
// that come in floods (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
// UNAUTHENTICATED, PERMISSION_DENIED, DATA_LOSS) are rate-limited, each code on
// its own.
void LogFailedRpc(const char* method, const std::string& request_id, const absl::Status& status,
                  std::chrono::steady_clock::duration elapsed);

}  // namespace docgate::rpc
