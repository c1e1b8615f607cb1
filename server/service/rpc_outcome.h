#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/db/with_connection.h"
#include "server/observability/rpc_metrics.h"

namespace docgate::service {

// The one conversion from our Status to the wire. Codes carry over unchanged;
// an INTERNAL message is replaced by a generic one with the request id, so that
// nothing of ours (SQL, server detail) ever reaches a client.
grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id);

// The request id of a call: the client's `x-request-id` when it is a short token
// of [A-Za-z0-9._-], else a new random one.
std::string RequestIdOf(const grpc::CallbackServerContext& context);

// One log line for a failed RPC: request id, method, code, duration, SQLSTATE.
// No payloads, no secrets. Levels: INTERNAL is an error, unavailability and
// refused credentials a warning, the rest (the client's own mistakes) info. Codes
// that come in floods (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED,
// UNAUTHENTICATED, PERMISSION_DENIED) are rate-limited.
void LogFailedRpc(const char* method, const std::string& request_id, const absl::Status& status,
                  std::chrono::steady_clock::duration elapsed);

// A call's response and the bytes gRPC sends for it (the methods are raw).
struct Reply {
  const google::protobuf::Message* message = nullptr;
  grpc::ByteBuffer* bytes = nullptr;
};

// Ends a call: the reply serialized (when `status` is OK and `reply` given), the
// request id trailer, the failure log line, the one status conversion, the gRPC
// server metrics, Finish(). Call exactly once per reactor.
void FinishRpc(grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* context, RpcMetrics& rpc,
               const std::string& request_id, std::chrono::steady_clock::time_point started,
               absl::Status status, Reply reply = {});

// Ends a call at once, before any work: `status` counted and logged like any
// failed call. Returns the reactor to give gRPC.
grpc::ServerUnaryReactor* RefuseRpc(grpc::CallbackServerContext* context, RpcMetrics& rpc,
                                    const absl::Status& status);

// The database limits of a call that arrived at `started`: its own deadline and the
// acquire timeout counted from its arrival. No cancel signal: a caller whose query
// a client's cancel may cut adds its own.
db::QueryContext QueryContextFor(const grpc::CallbackServerContext& context,
                                 std::chrono::steady_clock::time_point started,
                                 std::chrono::milliseconds acquire_timeout);

// The status a call gets when gRPC reports it cancelled: DEADLINE_EXCEEDED when its
// deadline passed, else CANCELLED.
absl::Status CancellationStatus(const grpc::CallbackServerContext& context);

// Passes a client's cancellation on to the database call running for it. Not a
// passed deadline: the statement timeout (rounded down) has ended the statement by
// then, and cutting the connection would only cost a reconnect.
void PassOnCancellation(const grpc::CallbackServerContext& context, db::CancelSignal* signal);

}  // namespace docgate::service
