#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "server/common/clock.h"
#include "server/db/with_connection.h"
#include "server/exec/work_queue.h"
#include "server/observability/metrics.h"
#include "server/rpc/call_batcher.h"
#include "server/rpc/call_deadline.h"
#include "server/rpc/call_gate.h"
#include "server/rpc/call_limits.h"
#include "server/rpc/finish_rpc.h"
#include "server/rpc/request_id.h"
#include "server/rpc/wire_format.h"
#include "spdlog/spdlog.h"

namespace docgate::rpc {

// What every unary call needs from the server.
struct CallEnv {
  WorkQueue& work_queue;
  const CallLimits& limits;  // read as each call arrives
  Metrics& metrics;
  CallGate& gate;  // every call was admitted by it, and leaves it when done
  Clock& clock;    // calls are timed on it
};

// The reactor of one unary RPC, and the single wrapper every handler goes through:
// the request's bytes parsed (INVALID_ARGUMENT when they do not), request id in,
// deadline and cancellation, the one status conversion, the failure log line,
// request id out in trailing metadata, the reply's bytes.
//
// The handler runs on a WorkQueue thread, never on gRPC's. Exactly one party
// finishes the call: the handler when it ran, or else whoever saw it end first
// (a client cancel or the deadline, a full or expired queue). A handler that has
// started always runs to its end, so request and response stay valid for it.
// Deletes itself when gRPC is done with it.
//
// Use: Accept, then (if parsed()) exactly one of Run, Join or Route; give gRPC the call.
template <typename Request, typename Response>
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  using Handler = std::function<absl::Status(const Request&, Response*, const db::QueryContext&)>;
  using Batcher = CallBatcher<Request, Response>;

  // Makes `caller`'s call and parses its request; a request that does not parse has
  // finished the call (INVALID_ARGUMENT), and parsed() is false.
  static UnaryCall* Accept(const CallEnv& env, grpc::CallbackServerContext* context, const grpc::ByteBuffer* bytes,
                           grpc::ByteBuffer* reply, const char* method, std::string caller) {
    auto* call = new UnaryCall(env, context, reply, env.metrics.rpc(method), std::move(caller));
    if (auto s = ParseRequest(*bytes, &call->request_); !s.ok()) call->Complete(s);
    return call;
  }

  bool parsed() const { return phase_->load() == kQueued; }
  const Request& request() const { return request_; }

  // Queues `handler` on the work queue.
  void Run(Handler handler) { Queue(std::move(handler)); }

  // The call joins `batcher`, to be served in one batch with the calls of its kind
  // that arrive meanwhile.
  void Join(Batcher& batcher) { batcher.Add(ToBatched()); }

  // Like Join, but the batcher is chosen later: `route` gets the call's deadline and
  // a function that joins a batcher, and may call it at once or later from another
  // thread (a read waiting for a replica). The call holds no thread meanwhile; a
  // cancel or shutdown before then finishes it, and the late join finds it finished.
  using Router = std::function<void(Clock::time_point deadline, std::function<void(Batcher&)> join)>;
  void Route(const Router& route) {
    BatchedCall<Request, Response> batched = ToBatched();
    const auto deadline = batched.ctx.deadline;
    route(deadline, [batched = std::move(batched)](Batcher& batcher) { batcher.Add(batched); });
  }

  void OnCancel() override {
    // A queued call ends here. A running one finishes by itself; a cancel by the
    // client (not a passed deadline) also cuts its query, unless a batch shares it.
    if (ClaimQueued()) {
      Complete(CancellationStatus(*context_));
    } else {
      PassOnCancellation(*context_, cancel_.get());
    }
  }

  void OnDone() override {
    env_.gate.Leave();
    delete this;
  }

  // Once the call is finished its reactions are trivial (OnDone deletes it; OnCancel
  // finds nothing to do), so gRPC may run them on the thread that completes the call
  // instead of handing each to its executor: one context switch less per call.
  // Before that, OnCancel does real work and goes through the executor as usual.
  // (gRPC marks this hook as internal; its own DefaultReactor uses it the same way.)
  bool InternalInlineable() override { return phase_->load() == kFinished; }

 private:
  enum Phase { kQueued, kRunning, kFinished };

  UnaryCall(const CallEnv& env, grpc::CallbackServerContext* context, grpc::ByteBuffer* reply, RpcMetrics& rpc,
            std::string caller)
      : env_(env),
        context_(context),
        reply_(reply),
        rpc_(rpc),
        caller_(std::move(caller)),
        request_id_(RequestIdOf(*context)),
        started_(env.clock.Now()),
        phase_(std::make_shared<std::atomic<int>>(kQueued)) {
    rpc_.Started();
  }

  // Takes the right to finish a call that has not started running.
  bool ClaimQueued() {
    int expected = kQueued;
    return phase_->compare_exchange_strong(expected, kFinished);
  }

  void Queue(Handler handler) {
    db::QueryContext ctx = QueryContextFor(*context_, started_, env_.limits);
    ctx.cancel = std::make_shared<db::CancelSignal>();
    cancel_ = ctx.cancel;
    // The tasks hold the phase, not the call: after another party finished it,
    // gRPC may delete the call while the task still waits in the queue.
    auto phase = phase_;
    env_.work_queue.Submit(
        WorkQueue::Ticket{caller_, ctx.acquire_by, ctx.deadline},
        [this, phase, ctx, handler = std::move(handler)] {
          int expected = kQueued;
          if (!phase->compare_exchange_strong(expected, kRunning)) return;
          absl::Status status;
          try {
            status = handler(request_, &response_, ctx);
          } catch (const std::exception& e) {
            spdlog::error("a handler threw; its call ends INTERNAL request_id={} reason=\"{}\"", request_id_, e.what());
            status = absl::InternalError(std::string("unexpected exception: ") + e.what());
          }
          Complete(status);
        },
        [this, phase](absl::Status status) {
          int expected = kQueued;
          if (phase->compare_exchange_strong(expected, kFinished)) Complete(status);
        });
  }

  // This call as a batch member. Its functions hold the phase, and touch the call
  // only once it is theirs (as Queue's tasks do), so it may join a batcher after another
  // party finished it.
  BatchedCall<Request, Response> ToBatched() {
    BatchedCall<Request, Response> call;
    call.request = &request_;
    call.response = &response_;
    // No cancel signal (cancel_ stays null): one client's cancel does not cut the
    // query its batch shares.
    call.ctx = QueryContextFor(*context_, started_, env_.limits);
    call.caller = caller_;
    auto phase = phase_;
    call.claim = [phase] {
      int expected = kQueued;
      return phase->compare_exchange_strong(expected, kRunning);
    };
    call.finish = [this](absl::Status status) { Complete(status); };
    call.reject = [this, phase](absl::Status status) {
      int expected = kQueued;
      if (phase->compare_exchange_strong(expected, kFinished)) Complete(status);
    };
    return call;
  }

  void Complete(const absl::Status& status) {
    phase_->store(kFinished);
    FinishRpc(this, context_, rpc_, request_id_, env_.clock, started_, status, Reply{&response_, reply_});
  }

  const CallEnv env_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const reply_;
  Request request_;
  Response response_;
  RpcMetrics& rpc_;
  const std::string caller_;
  const std::string request_id_;
  const Clock::time_point started_;
  const std::shared_ptr<std::atomic<int>> phase_;
  std::shared_ptr<db::CancelSignal> cancel_;
};

}  // namespace docgate::rpc
