#pragma once

#include <chrono>
#include <string>

#include <google/protobuf/message.h>
#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/common/clock.h"
#include "server/observability/rpc_metrics.h"

namespace docgate::rpc {

// The one conversion from our Status to the wire. Codes carry over unchanged;
// an INTERNAL message is replaced by a generic one with the request id, so that
// nothing of ours (SQL, server detail) ever reaches a client.
grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id);

// A call's response and the bytes gRPC sends for it (the methods are raw).
struct Reply {
  const google::protobuf::Message* message = nullptr;
  grpc::ByteBuffer* bytes = nullptr;
};

// Ends a call that arrived at `started` on `clock`: the reply serialized (when
// `status` is OK and `reply` given), the request id trailer, the failure log line,
// the one status conversion, the gRPC server metrics, Finish(). Call exactly once
// per reactor.
void FinishRpc(grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* context, RpcMetrics& rpc,
               const std::string& request_id, const Clock& clock, Clock::time_point started, absl::Status status,
               Reply reply = {});

// Ends a call at once, before any work: `status` counted and logged like any
// failed call. Returns the reactor to give gRPC.
grpc::ServerUnaryReactor* RefuseRpc(grpc::CallbackServerContext* context, RpcMetrics& rpc, const absl::Status& status);

}  // namespace docgate::rpc
