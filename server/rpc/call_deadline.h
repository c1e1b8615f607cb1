#pragma once

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/db/cancel_signal.h"
#include "server/db/with_connection.h"

namespace docgate::rpc {

// The database limits of a call that arrived at `started` (on the server's clock):
// its own deadline and the acquire timeout counted from its arrival. No cancel
// signal: a caller whose query a client's cancel may cut adds its own.
db::QueryContext QueryContextFor(const grpc::CallbackServerContext& context, Clock::time_point started,
                                 std::chrono::milliseconds acquire_timeout);

// The status a call gets when gRPC reports it cancelled: DEADLINE_EXCEEDED when its
// deadline passed, else CANCELLED.
absl::Status CancellationStatus(const grpc::CallbackServerContext& context);

// Passes a client's cancellation on to the database call running for it. Not a
// passed deadline: the statement timeout (rounded down) has ended the statement by
// then, and cutting the connection would only cost a reconnect.
void PassOnCancellation(const grpc::CallbackServerContext& context, db::CancelSignal* signal);

}  // namespace docgate::rpc
