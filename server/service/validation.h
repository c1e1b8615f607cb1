#pragma once

#include <string>

#include "absl/status/status.h"
#include "docgate/v1/docgate.pb.h"
#include "server/config.h"
#include "server/service/read_plan.h"
#include "server/store/cluster.h"

namespace docgate::service {

// Request validation of SPEC "API". Each returns OK or INVALID_ARGUMENT whose
// message begins with the offending field's path (for example "document.name: ...").
// Nothing is written when validation fails: it runs before any database work.
absl::Status ValidateCreate(const v1::CreateDocumentRequest& request, const Limits& limits);
// Reads also plan where they may go (read_plan.h): a consistency token `cluster`
// did not issue is INVALID_ARGUMENT, and UNAVAILABLE while the cluster is unknown.
absl::StatusOr<ReadPlan> ValidateGet(const v1::GetDocumentRequest& request, const store::Cluster& cluster);
absl::StatusOr<ReadPlan> ValidateWaitVisible(const v1::WaitVisibleRequest& request, const store::Cluster& cluster);
// A lease's bounds (UpdateDocumentStatusRequest.lease_duration, RenewLease).
inline constexpr int64_t kMinLeaseMillis = 1000;
inline constexpr int64_t kMaxLeaseMillis = 24 * 3600 * 1000;
// These two return the lease asked for, in milliseconds (0: none).
absl::StatusOr<int64_t> ValidateUpdateStatus(const v1::UpdateDocumentStatusRequest& request, const Limits& limits);
absl::StatusOr<int64_t> ValidateRenewLease(const v1::RenewLeaseRequest& request);
absl::Status ValidateList(const v1::ListDocumentsRequest& request);
absl::Status ValidateRetry(const v1::RetryDocumentRequest& request, const Limits& limits);
absl::Status ValidateListTasks(const v1::ListDocumentTasksRequest& request);

}  // namespace docgate::service
