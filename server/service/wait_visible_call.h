#pragma once

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "server/common/clock.h"
#include "server/exec/work_queue.h"
#include "server/observability/metrics.h"
#include "server/rpc/call_gate.h"
#include "server/rpc/call_limits.h"
#include "server/service/document_service.h"
#include "server/service/routed_read.h"
#include "server/visibility/waiter_registry.h"

namespace docgate::service {

// What WaitVisible calls share.
struct WaitEnv {
  WorkQueue& work_queue;
  DocumentService& logic;
  ReadEnv reads;
  visibility::WaiterRegistry& registry;
  const rpc::CallLimits& limits;  // acquire timeout; max_wait caps the client's deadline
  Metrics& metrics;
  rpc::CallGate& gate;  // every call was admitted by it, and leaves it when done
  Clock& clock;         // calls are timed, and their waits expire, on it
};

// Starts one WaitVisible call (its request as bytes, parsed here) and returns its
// reactor: gRPC's side of a visibility::VisibilityWait (visibility_wait.h), which
// holds no thread and no connection while it waits.
//
// It ends exactly once: with the document; DEADLINE_EXCEEDED at its deadline or the
// server's --max-wait; CANCELLED; INVALID_ARGUMENT for a request that does not parse
// or is invalid; RESOURCE_EXHAUSTED past --max-waiters; UNAVAILABLE when the first
// look finds the database down or the server shuts down. A database outage after
// it started waiting does not end it: it waits on, until its deadline. With a
// consistency token (unless STRONG) a replica that has replayed it may answer
// first; otherwise, and when the replica has not the document, the primary is
// watched (a stale replica could only make the wait longer).
grpc::ServerUnaryReactor* StartWaitVisible(const WaitEnv& env, grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request, grpc::ByteBuffer* response,
                                           std::string caller);

}  // namespace docgate::service
