#include "server/service/wait_visible_call.h"

#include <atomic>
#include <memory>

#include "server/service/read_plan.h"
#include "server/service/routed_read.h"
#include "server/service/rpc_outcome.h"
#include "server/service/validation.h"
#include "server/service/wire_format.h"
#include "server/store/uuid.h"

namespace docgate::service {
namespace {

constexpr char kMethod[] = "WaitVisible";

// The state of one call, shared by its reactor, the registry and queued looks.
//
// Phases: kWaiting (registered, nothing running), kChecking (one look running; it
// alone may finish the call), kFinished. Whoever moves the phase out of kWaiting
// owns the next step. Wake-ups and endings that arrive during a look leave a flag
// that the look reads after it returns to kWaiting; with sequentially consistent
// atomics, either the flag is seen or the late party's own CAS succeeds.
class WaitState final : public visibility::Waiter, public std::enable_shared_from_this<WaitState> {
 public:
  WaitState(const WaitEnv& env, grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* context,
            grpc::ByteBuffer* reply)
      : env_(env),
        reactor_(reactor),
        context_(context),
        reply_(reply),
        request_id_(RequestIdOf(*context)),
        started_(std::chrono::steady_clock::now()) {
    env_.metrics.rpc(kMethod).Started();
  }

  void Begin(const grpc::ByteBuffer& bytes) {
    auto self = shared_from_this();  // finishing may delete the reactor, our other owner
    v1::WaitVisibleRequest request;
    if (auto s = ParseRequest(bytes, &request); !s.ok()) return FinishUnregistered(s);
    const auto plan = ValidateWaitVisible(request, env_.logic.cluster());
    if (!plan.ok()) return FinishUnregistered(plan.status());
    get_.set_id(*store::CanonicalUuid(request.id()));
    get_.set_consistency_token(request.consistency_token());
    get_.set_include_body(request.include_body());
    ctx_ = QueryContextFor(*context_, started_, env_.acquire_timeout);
    ctx_.cancel = std::make_shared<db::CancelSignal>();
    expires_at_ = std::min(ctx_.deadline, started_ + env_.max_wait);
    // With a token (unless STRONG), a replica that has replayed it may answer first;
    // without one (or when it has not the document) the primary is watched: a stale
    // replica could only make the wait longer.
    const bool token = !request.consistency_token().empty();
    if (token && plan->mode != replicas::ReadMode::kPrimary && !env_.reads.replicas.empty()) {
      phase_.store(kChecking);  // the replica's look, like any look, alone may finish the call
      env_.reads.replicas.Route(replicas::ReadMode::kFresh, plan->lsn, expires_at_,
                                [self](const replicas::ReadSource& source) { self->LookFirstAt(source); });
      return;
    }
    if (auto s = env_.registry.Add(get_.id(), shared_from_this(), expires_at_); !s.ok()) {
      return FinishUnregistered(s);
    }
    Wake();  // the first look, after registering
  }

  void Wake() override {
    recheck_.store(true);
    TryStartLook();
  }

  void End(absl::Status why) override {
    auto self = shared_from_this();
    {
      std::lock_guard lock(end_mu_);
      if (end_reason_.ok()) end_reason_ = std::move(why);
    }
    ending_.store(true);
    TryEnd();
  }

  void OnCancel() {
    PassOnCancellation(*context_, ctx_.cancel.get());  // cuts a look that is running
    End(CancellationStatus(*context_));
  }

 private:
  enum Phase { kWaiting, kChecking, kFinished };

  void TryStartLook() {
    int expected = kWaiting;
    if (!phase_.compare_exchange_strong(expected, kChecking)) return;  // a running look will see recheck_
    recheck_.store(false);
    auto self = shared_from_this();
    env_.work_queue.Submit([self] { self->Look(); },
                           [self](absl::Status s) { self->AfterLook(s); },
                           WorkQueue::Clock::now() + env_.acquire_timeout);
  }

  void Look() {
    v1::GetDocumentResponse found;
    const absl::Status s = ReadFrom(env_.reads, env_.reads.replicas.primary(), get_, &found, ctx_);
    if (s.ok()) return Found(found);
    AfterLook(s);
  }

  void Found(v1::GetDocumentResponse& found) {
    response_.mutable_document()->Swap(found.mutable_document());
    response_.set_served_by(found.served_by());
    Finish(absl::OkStatus());
  }

  // Runs in kChecking: a look on the source Route chose; unless a replica finds the
  // document there, the call registers and watches the primary.
  void LookFirstAt(const replicas::ReadSource& source) {
    if (!source.is_replica()) return RegisterAfterLook();
    auto self = shared_from_this();
    env_.work_queue.Submit(
        [self, source] {
          v1::GetDocumentResponse found;
          if (ReadFrom(self->env_.reads, source, self->get_, &found, self->ctx_).ok()) return self->Found(found);
          self->RegisterAfterLook();
        },
        [self](const absl::Status&) { self->RegisterAfterLook(); },
        WorkQueue::Clock::now() + env_.acquire_timeout);
  }

  // Runs in kChecking: registers, then looks on the primary (or ends, if asked to meanwhile).
  void RegisterAfterLook() {
    if (!ending_.load()) {
      if (auto s = env_.registry.Add(get_.id(), shared_from_this(), expires_at_); !s.ok()) {
        return FinishUnregistered(s);
      }
    }
    phase_.store(kWaiting);
    if (ending_.load()) return TryEnd();
    Wake();
  }

  // Runs in kChecking, after a look that did not find the document (or could not run).
  void AfterLook(const absl::Status& s) {
    const bool first = !looked_once_;
    looked_once_ = true;
    // Fail fast only on the first look: a database down then means "down now".
    // Once waiting, an outage is waited out until the deadline.
    if (first && !s.ok() && !absl::IsNotFound(s)) return Finish(s);
    phase_.store(kWaiting);
    if (ending_.load()) return TryEnd();
    if (recheck_.load()) TryStartLook();
  }

  void TryEnd() {
    int expected = kWaiting;
    if (!phase_.compare_exchange_strong(expected, kFinished)) return;  // a running look will see ending_
    absl::Status reason;
    {
      std::lock_guard lock(end_mu_);
      reason = end_reason_;
    }
    Finish(reason);
  }

  void Finish(const absl::Status& status) {
    phase_.store(kFinished);
    env_.registry.Remove(get_.id(), this);
    env_.metrics.wait_visible_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    if (absl::IsDeadlineExceeded(status)) env_.metrics.wait_visible_timeouts.Increment();
    FinishRpc(reactor_, context_, env_.metrics.rpc(kMethod), request_id_, started_, status,
              Reply{&response_, reply_});
  }

  void FinishUnregistered(const absl::Status& status) {
    phase_.store(kFinished);
    FinishRpc(reactor_, context_, env_.metrics.rpc(kMethod), request_id_, started_, status);
  }

  const WaitEnv env_;
  grpc::ServerUnaryReactor* const reactor_;  // valid until Finish
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const reply_;  // valid until Finish
  v1::WaitVisibleResponse response_;
  const std::string request_id_;
  const std::chrono::steady_clock::time_point started_;
  v1::GetDocumentRequest get_;
  db::QueryContext ctx_;
  std::chrono::steady_clock::time_point expires_at_{};
  bool looked_once_ = false;  // only touched in kChecking

  std::atomic<int> phase_{kWaiting};
  std::atomic<bool> recheck_{false};
  std::atomic<bool> ending_{false};
  std::mutex end_mu_;
  absl::Status end_reason_;
};

class WaitVisibleReactor final : public grpc::ServerUnaryReactor {
 public:
  WaitVisibleReactor(const WaitEnv& env, grpc::CallbackServerContext* context, grpc::ByteBuffer* reply)
      : gate_(env.gate), state_(std::make_shared<WaitState>(env, this, context, reply)) {}

  void Begin(const grpc::ByteBuffer& request) { state_->Begin(request); }
  void OnCancel() override { state_->OnCancel(); }
  void OnDone() override {
    gate_.Leave();
    delete this;
  }

 private:
  CallGate& gate_;
  std::shared_ptr<WaitState> state_;
};

}  // namespace

grpc::ServerUnaryReactor* StartWaitVisible(const WaitEnv& env, grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request, grpc::ByteBuffer* response) {
  auto* reactor = new WaitVisibleReactor(env, context, response);
  reactor->Begin(*request);
  return reactor;
}

}  // namespace docgate::service
