#include "server/service/routed_read.h"

namespace docgate::service {
namespace {

// Outcomes that belong to the request or its caller, whichever source answered.
bool IsAnswer(const absl::Status& s) {
  return s.ok() || absl::IsNotFound(s) || absl::IsInvalidArgument(s) || absl::IsCancelled(s) ||
         absl::IsDeadlineExceeded(s);
}

}  // namespace

void ReadManyFrom(const ReadEnv& env, const replicas::ReadSource& source,
                  const std::vector<const v1::GetDocumentRequest*>& requests,
                  const std::vector<v1::GetDocumentResponse*>& responses, std::vector<absl::Status>& statuses,
                  const db::QueryContext& ctx) {
  env.logic.GetMany(requests, responses, statuses, ctx, source.store);
  std::vector<const replicas::ReadSource*> served_by(requests.size(), &source);
  if (source.is_replica()) {
    std::vector<size_t> again;  // the reads the replica failed
    for (size_t i = 0; i < statuses.size(); ++i) {
      if (!IsAnswer(statuses[i])) again.push_back(i);
    }
    if (!again.empty()) {
      env.replicas.MarkFailed(source);
      std::vector<const v1::GetDocumentRequest*> retry_requests;
      std::vector<v1::GetDocumentResponse*> retry_responses;
      for (size_t i : again) {
        env.metrics.FellBack(Fallback::kReplicaFailed);
        responses[i]->Clear();
        retry_requests.push_back(requests[i]);
        retry_responses.push_back(responses[i]);
        served_by[i] = &env.replicas.primary();
      }
      std::vector<absl::Status> retry_statuses(again.size());
      env.logic.GetMany(retry_requests, retry_responses, retry_statuses, ctx);
      for (size_t k = 0; k < again.size(); ++k) statuses[again[k]] = retry_statuses[k];
    }
  }
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (!statuses[i].ok()) continue;
    responses[i]->set_served_by(served_by[i]->name);
    served_by[i]->reads->Increment();
  }
}

absl::Status ReadFrom(const ReadEnv& env, const replicas::ReadSource& source, const v1::GetDocumentRequest& request,
                      v1::GetDocumentResponse* response, const db::QueryContext& ctx) {
  std::vector<absl::Status> statuses(1);
  ReadManyFrom(env, source, {&request}, {response}, statuses, ctx);
  return statuses[0];
}

}  // namespace docgate::service
