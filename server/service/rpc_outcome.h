#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace docgate::service {

// The one conversion from our Status to the wire. Codes carry over unchanged;
// an INTERNAL message is replaced by a generic one with the request id, so that
// nothing of ours (SQL, server detail) ever reaches a client.
grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id);

// The request id of a call: the client's `x-request-id` when it is a short token
// of [A-Za-z0-9._-], else a new random one.
std::string RequestIdOf(const grpc::CallbackServerContext& context);

// One log line for a failed RPC: request id, method, code, duration, SQLSTATE.
// No payloads, no secrets. Levels: INTERNAL is an error, unavailability a warning,
// the rest (the client's own mistakes) info.
void LogFailedRpc(const char* method, const std::string& request_id, const absl::Status& status,
                  std::chrono::steady_clock::duration elapsed);

}  // namespace docgate::service
