#pragma once

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/db/cancel_signal.h"
#include "server/db/with_connection.h"
#include "server/rpc/call_limits.h"

namespace docgate::rpc {

// The database limits of a call that arrived at `started` (on the server's clock):
// its own deadline, the acquire timeout counted from its arrival, and the
// statement timeout, as `limits` say now. No cancel signal: a caller whose query a
// client's cancel may cut adds its own.
db::QueryContext QueryContextFor(const grpc::CallbackServerContext& context, Clock::time_point started,
                                 const CallLimits& limits);

// The status a call gets when gRPC reports it cancelled: DEADLINE_EXCEEDED when its
// deadline passed, else CANCELLED.
absl::Status CancellationStatus(const grpc::CallbackServerContext& context);

// Passes a client's cancellation on to the database call running for it. Not a
// passed deadline: the statement timeout (rounded down) has ended the statement by
// then, and cutting the connection would only cost a reconnect.
void PassOnCancellation(const grpc::CallbackServerContext& context, db::CancelSignal* signal);

}  // namespace docgate::rpc
