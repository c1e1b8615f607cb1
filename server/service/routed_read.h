#pragma once

#include <vector>

#include "absl/status/status.h"
#include "docgate/v1/docgate.pb.h"
#include "server/db/with_connection.h"
#include "server/observability/replica_metrics.h"
#include "server/replicas/replica_set.h"
#include "server/service/document_service.h"

namespace docgate::service {

// What reads that may go to a replica share.
struct ReadEnv {
  DocumentService& logic;
  replicas::ReplicaSet& replicas;
  ReplicaMetrics& metrics;
};

// Reads `requests` from `source` with one query (DocumentService::GetMany), sets
// served_by on each answer, and counts the reads by source. When a replica fails
// for its own reasons (anything but NOT_FOUND, a bad request, or the caller's own
// cancel or deadline), it leaves rotation and the primary answers those reads
// instead. statuses[i] is requests[i]'s outcome.
void ReadManyFrom(const ReadEnv& env, const replicas::ReadSource& source,
                  const std::vector<const v1::GetDocumentRequest*>& requests,
                  const std::vector<v1::GetDocumentResponse*>& responses, std::vector<absl::Status>& statuses,
                  const db::QueryContext& ctx);

// ReadManyFrom for one read.
absl::Status ReadFrom(const ReadEnv& env, const replicas::ReadSource& source, const v1::GetDocumentRequest& request,
                      v1::GetDocumentResponse* response, const db::QueryContext& ctx);

}  // namespace docgate::service
