#include "server/service/validation.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "server/service/read_plan.h"
#include "server/store/uuid.h"

namespace docgate::service {
namespace {

absl::Status Invalid(const char* field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// PostgreSQL text and jsonb cannot hold U+0000.
absl::Status CheckText(const char* field, const std::string& value, int64_t max_bytes) {
  if (value.find('\0') != std::string::npos) return Invalid(field, "must not contain U+0000");
  if (static_cast<int64_t>(value.size()) > max_bytes) {
    return Invalid(field, absl::StrCat("longer than ", max_bytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckId(const char* field, const std::string& id) {
  if (id.empty()) return Invalid(field, "required");
  if (!store::CanonicalUuid(id).has_value()) return Invalid(field, "must be a UUID such as 0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  return absl::OkStatus();
}

bool IsKnownStatus(int status) { return status >= v1::PENDING && status <= v1::FAILED; }

absl::Status CheckAttributes(const google::protobuf::Map<std::string, std::string>& attributes,
                             const Limits& limits) {
  if (static_cast<int64_t>(attributes.size()) > limits.max_attributes) {
    return Invalid("document.attributes", absl::StrCat("more than ", limits.max_attributes, " entries"));
  }
  int64_t total = 0;
  for (const auto& [key, value] : attributes) {
    if (key.empty()) return Invalid("document.attributes", "keys must not be empty");
    if (key.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return Invalid("document.attributes", "must not contain U+0000");
    }
    total += static_cast<int64_t>(key.size() + value.size());
  }
  if (total > limits.max_attributes_bytes) {
    return Invalid("document.attributes", absl::StrCat("larger than ", limits.max_attributes_bytes, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCreate(const v1::CreateDocumentRequest& request, const Limits& limits) {
  if (!request.has_document()) return Invalid("document", "required");
  const v1::Document& d = request.document();
  if (!d.id().empty()) {
    if (auto s = CheckId("document.id", d.id()); !s.ok()) return s;
  }
  if (d.name().empty()) return Invalid("document.name", "required");
  if (auto s = CheckText("document.name", d.name(), limits.max_name_bytes); !s.ok()) return s;
  if (auto s = CheckText("document.source_uri", d.source_uri(), limits.max_source_uri_bytes); !s.ok()) return s;
  if (auto s = CheckText("document.content_type", d.content_type(), limits.max_content_type_bytes); !s.ok()) return s;
  if (static_cast<int64_t>(d.body().size()) > limits.max_body_bytes) {
    return Invalid("document.body", absl::StrCat("larger than ", limits.max_body_bytes, " bytes"));
  }
  if (auto s = CheckAttributes(d.attributes(), limits); !s.ok()) return s;
  if (d.status() != v1::DOCUMENT_STATUS_UNSPECIFIED && d.status() != v1::PENDING) {
    return Invalid("document.status", "a new document is PENDING; move it with UpdateDocumentStatus");
  }
  if (!d.status_detail().empty()) {
    return Invalid("document.status_detail", "set it with UpdateDocumentStatus");
  }
  return absl::OkStatus();
}

absl::StatusOr<ReadPlan> ValidateGet(const v1::GetDocumentRequest& request, const store::Cluster& cluster) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  return PlanRead(request.consistency(), request.consistency_token(), cluster);
}

absl::StatusOr<ReadPlan> ValidateWaitVisible(const v1::WaitVisibleRequest& request, const store::Cluster& cluster) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  return PlanRead(request.consistency(), request.consistency_token(), cluster);
}

absl::Status ValidateUpdateStatus(const v1::UpdateDocumentStatusRequest& request, const Limits& limits) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  if (request.status() == v1::DOCUMENT_STATUS_UNSPECIFIED) return Invalid("status", "required");
  if (!IsKnownStatus(request.status())) return Invalid("status", "unknown value");
  if (auto s = CheckText("status_detail", request.status_detail(), limits.max_status_detail_bytes); !s.ok()) {
    return s;
  }
  if (request.expected_version() < 0) return Invalid("expected_version", "must not be negative");
  return absl::OkStatus();
}

absl::Status ValidateList(const v1::ListDocumentsRequest& request) {
  if (request.status() != v1::DOCUMENT_STATUS_UNSPECIFIED && !IsKnownStatus(request.status())) {
    return Invalid("status", "unknown value");
  }
  if (request.page_size() < 0) return Invalid("page_size", "must not be negative");
  return absl::OkStatus();
}

}  // namespace docgate::service
