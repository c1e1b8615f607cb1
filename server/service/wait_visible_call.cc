#include "server/service/wait_visible_call.h"

#include <memory>

#include "server/rpc/call_deadline.h"
#include "server/rpc/finish_rpc.h"
#include "server/rpc/request_id.h"
#include "server/rpc/wire_format.h"
#include "server/service/document_codec.h"
#include "server/service/read_plan.h"
#include "server/service/validation.h"
#include "server/store/uuid.h"
#include "server/visibility/visibility_wait.h"

namespace docgate::service {
namespace {

constexpr char kMethod[] = "WaitVisible";

// The reactor of one call: its request, its answer, and the wait that fills it.
// The wait's actions use the reactor only until they finish the call (after that
// gRPC deletes it), and a job the wait queued touches nothing of it once finished.
class WaitVisibleReactor final : public grpc::ServerUnaryReactor {
 public:
  WaitVisibleReactor(const WaitEnv& env, grpc::CallbackServerContext* context, grpc::ByteBuffer* reply,
                     std::string caller)
      : env_(env),
        context_(context),
        reply_(reply),
        caller_(std::move(caller)),
        request_id_(rpc::RequestIdOf(*context)),
        started_(env.clock.Now()) {
    env_.metrics.rpc(kMethod).Started();
  }

  void Begin(const grpc::ByteBuffer& bytes);

  void OnCancel() override {
    if (wait_ == nullptr) return;
    rpc::PassOnCancellation(*context_, ctx_.cancel.get());  // cuts a look that is running
    wait_->End(rpc::CancellationStatus(*context_));
  }

  void OnDone() override {
    env_.gate.Leave();
    delete this;
  }

 private:
  visibility::VisibilityWait::Actions ActionsOf();
  // Looks on the primary (or the replica `source`); OK when found, with the answer set.
  absl::Status LookAt(const replicas::ReadSource& source);
  bool AnswerFrom(const visibility::Sighting& seen);
  // The wait's first look on the source the router chose; a replica's miss makes it
  // watch the primary.
  void LookFirstAt(const replicas::ReadSource& source);
  void Finish(const absl::Status& status);

  const WaitEnv env_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const reply_;
  const std::string caller_;  // whose looks these are, for admission
  const std::string request_id_;
  const Clock::time_point started_;
  v1::GetDocumentRequest get_;
  v1::WaitVisibleResponse response_;
  db::QueryContext ctx_;
  std::shared_ptr<visibility::VisibilityWait> wait_;  // null until the request is valid
};

void WaitVisibleReactor::Begin(const grpc::ByteBuffer& bytes) {
  v1::WaitVisibleRequest request;
  if (auto s = rpc::ParseRequest(bytes, &request); !s.ok()) return Finish(s);
  const auto plan = ValidateWaitVisible(request, env_.logic.cluster());
  if (!plan.ok()) return Finish(plan.status());
  get_.set_id(*store::CanonicalUuid(request.id()));
  get_.set_consistency_token(request.consistency_token());
  get_.set_include_body(request.include_body());
  ctx_ = QueryContextFor(*context_, started_, env_.limits);
  ctx_.cancel = std::make_shared<db::CancelSignal>();
  const auto expires_at = std::min(ctx_.deadline, started_ + env_.limits.max_wait());
  wait_ = std::make_shared<visibility::VisibilityWait>(env_.registry, get_.id(), expires_at, ActionsOf());
  const bool token = !request.consistency_token().empty();
  if (!token || plan->mode == replicas::ReadMode::kPrimary || env_.reads.replicas.empty()) return wait_->Start();
  wait_->StartElsewhere();
  env_.reads.replicas.Route(replicas::ReadMode::kFresh, plan->lsn, expires_at,
                            [this](const replicas::ReadSource& source) { LookFirstAt(source); });
}

visibility::VisibilityWait::Actions WaitVisibleReactor::ActionsOf() {
  WorkQueue* queue = &env_.work_queue;
  Clock* clock = &env_.clock;
  const rpc::CallLimits* limits = &env_.limits;
  return visibility::VisibilityWait::Actions{
      // Touches nothing of the reactor: it may be called after the call finished.
      [queue, clock, limits, caller = caller_](std::function<void()> job, std::function<void(absl::Status)> rejected) {
        queue->Submit(WorkQueue::Ticket{caller, clock->Now() + limits->acquire_timeout()}, std::move(job),
                      std::move(rejected));
      },
      [this] { return LookAt(env_.reads.replicas.primary()); },
      [this](const visibility::Sighting& seen) { return AnswerFrom(seen); },
      [this](absl::Status status) { Finish(status); }};
}

absl::Status WaitVisibleReactor::LookAt(const replicas::ReadSource& source) {
  v1::GetDocumentResponse found;
  const absl::Status s = ReadFrom(env_.reads, source, get_, &found, ctx_);
  if (!s.ok()) return s;
  response_.mutable_document()->Swap(found.mutable_document());
  response_.set_served_by(found.served_by());
  return s;
}

bool WaitVisibleReactor::AnswerFrom(const visibility::Sighting& seen) {
  if (get_.include_body() && !seen.has_body) return false;
  ToProto(seen.document, response_.mutable_document());
  if (!get_.include_body()) response_.mutable_document()->clear_body();
  response_.set_served_by(env_.reads.replicas.primary().name);  // the row came from the primary's commit
  return true;
}

void WaitVisibleReactor::LookFirstAt(const replicas::ReadSource& source) {
  if (!source.is_replica()) return wait_->NotFoundElsewhere();
  auto wait = wait_;  // the job keeps the wait; the reactor lives until the wait finishes
  env_.work_queue.Submit(
      WorkQueue::Ticket{caller_, env_.clock.Now() + env_.limits.acquire_timeout()},
      [this, wait, source] {
        if (LookAt(source).ok()) return wait->FoundElsewhere();
        wait->NotFoundElsewhere();
      },
      [wait](const absl::Status&) { wait->NotFoundElsewhere(); });
}

void WaitVisibleReactor::Finish(const absl::Status& status) {
  if (wait_ != nullptr) {
    env_.metrics.wait_visible_seconds.Observe(std::chrono::duration<double>(env_.clock.Now() - started_).count());
    if (absl::IsDeadlineExceeded(status)) env_.metrics.wait_visible_timeouts.Increment();
  }
  rpc::FinishRpc(this, context_, env_.metrics.rpc(kMethod), request_id_, env_.clock, started_, status,
                 rpc::Reply{&response_, reply_});  // serialized only when OK
}

}  // namespace

grpc::ServerUnaryReactor* StartWaitVisible(const WaitEnv& env, grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request, grpc::ByteBuffer* response,
                                           std::string caller) {
  auto* reactor = new WaitVisibleReactor(env, context, response, std::move(caller));
  reactor->Begin(*request);
  return reactor;
}

}  // namespace docgate::service
