#pragma once

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

// Reads `request` from `source`, sets served_by, and counts the read by source.
// When a replica fails for its own reasons (anything but NOT_FOUND, a bad
// request, or the call's own cancel or deadline), it leaves rotation and the
// primary answers instead: the caller sees the primary's answer.
absl::Status ReadFrom(const ReadEnv& env, const replicas::ReadSource& source, const v1::GetDocumentRequest& request,
                      v1::GetDocumentResponse* response, const db::QueryContext& ctx);

}  // namespace docgate::service
