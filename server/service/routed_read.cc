#include "server/service/routed_read.h"

namespace docgate::service {
namespace {

// Outcomes that belong to the request or its caller, whichever source answered.
bool IsAnswer(const absl::Status& s) {
  return s.ok() || absl::IsNotFound(s) || absl::IsInvalidArgument(s) || absl::IsCancelled(s) ||
         absl::IsDeadlineExceeded(s);
}

}  // namespace

absl::Status ReadFrom(const ReadEnv& env, const replicas::ReadSource& source, const v1::GetDocumentRequest& request,
                      v1::GetDocumentResponse* response, const db::QueryContext& ctx) {
  const replicas::ReadSource* from = &source;
  absl::Status s = env.logic.Get(request, response, ctx, source.store);
  if (source.is_replica() && !IsAnswer(s)) {
    env.replicas.MarkFailed(source);
    env.metrics.FellBack(Fallback::kReplicaFailed);
    from = &env.replicas.primary();
    response->Clear();
    s = env.logic.Get(request, response, ctx, from->store);
  }
  if (s.ok()) {
    response->set_served_by(from->name);
    env.metrics.Read(from->name);
  }
  return s;
}

}  // namespace docgate::service
