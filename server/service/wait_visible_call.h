#pragma once

#include <chrono>

#include <grpcpp/grpcpp.h>

#include "docgate/v1/docgate.pb.h"
#include "server/exec/work_queue.h"
#include "server/observability/metrics.h"
#include "server/service/call_gate.h"
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
  std::chrono::milliseconds acquire_timeout;
  std::chrono::milliseconds max_wait;  // cap on the client's deadline
  Metrics& metrics;
  CallGate& gate;  // every call was admitted by it, and leaves it when done
};

// Starts one WaitVisible call (its request as bytes, parsed here) and returns its reactor.
//
// The call registers as a waiter first, then looks for the document, so a commit
// between the two cannot be missed. While it waits it holds no thread and no
// connection: every look (first, and after each wake-up from a local commit or
// the watcher) is a short job on the work queue. It ends exactly once: with the
// document; DEADLINE_EXCEEDED at its deadline or the server's --max-wait;
// CANCELLED; INVALID_ARGUMENT for a request that does not parse or is invalid;
// RESOURCE_EXHAUSTED past --max-waiters; UNAVAILABLE when the first
// look finds the database down or the server shuts down. A database outage after
// it started waiting does not end it: it waits on, until its deadline.
grpc::ServerUnaryReactor* StartWaitVisible(const WaitEnv& env, grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request, grpc::ByteBuffer* response);

}  // namespace docgate::service
