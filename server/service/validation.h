#pragma once

#include <string>

#include "absl/status/status.h"
#include "docgate/v1/docgate.pb.h"
#include "server/config.h"

namespace docgate::service {

// Request validation of SPEC "API". Each returns OK or INVALID_ARGUMENT whose
// message begins with the offending field's path (for example "document.name: ...").
// Nothing is written when validation fails: it runs before any database work.
absl::Status ValidateCreate(const v1::CreateDocumentRequest& request, const Limits& limits);
absl::Status ValidateGet(const v1::GetDocumentRequest& request);
absl::Status ValidateWaitVisible(const v1::WaitVisibleRequest& request);
absl::Status ValidateUpdateStatus(const v1::UpdateDocumentStatusRequest& request, const Limits& limits);
absl::Status ValidateList(const v1::ListDocumentsRequest& request);

}  // namespace docgate::service
