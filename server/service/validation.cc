#include "server/service/validation.h"

#include <string_view>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "server/proto_limits.h"
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
  if (!store::CanonicalUuid(id).has_value())
    return Invalid(field, "must be a UUID such as 0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  return absl::OkStatus();
}

bool IsKnownStatus(int status) { return status >= v1::PENDING && status <= v1::FAILED; }

absl::Status CheckAttributes(const google::protobuf::Map<std::string, std::string>& attributes, const Limits& limits) {
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

// The limits of CeleryTask and enqueue, as docgate.proto states them.
struct TaskLimits {
  int64_t tasks = ProtoLimit(v1::CreateDocumentRequest::descriptor(), "enqueue");
  int64_t name_bytes = ProtoLimit(v1::CeleryTask::descriptor(), "task");
  int64_t queue_bytes = ProtoLimit(v1::CeleryTask::descriptor(), "queue");
  int64_t args_bytes = ProtoLimit(v1::CeleryTask::descriptor(), "args_json");
  int64_t kwargs_bytes = ProtoLimit(v1::CeleryTask::descriptor(), "kwargs_json");
  int64_t countdown_seconds = ProtoLimit(v1::CeleryTask::descriptor(), "countdown_seconds");
};

const TaskLimits& TaskLimitsOf() {
  static const TaskLimits limits;
  return limits;
}

bool IsTaskNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == ':' || c == '-';
}

absl::Status CheckTaskName(const std::string& field, const std::string& name, bool required, int64_t max_bytes) {
  if (name.empty()) return required ? Invalid(field.c_str(), "required") : absl::OkStatus();
  if (static_cast<int64_t>(name.size()) > max_bytes) {
    return Invalid(field.c_str(), absl::StrCat("longer than ", max_bytes, " bytes"));
  }
  for (char c : name) {
    if (!IsTaskNameChar(c)) return Invalid(field.c_str(), "only ASCII letters, digits and _.:- are allowed");
  }
  return absl::OkStatus();
}

// `json` (empty allowed) parses as `shape` (a JSON array into ListValue, an object
// into Struct), within the size limit, and holds no U+0000, which jsonb refuses.
absl::Status CheckTaskJson(const std::string& field, const std::string& json, google::protobuf::Message&& shape,
                           const char* expected, int64_t max_bytes) {
  if (json.empty()) return absl::OkStatus();
  if (static_cast<int64_t>(json.size()) > max_bytes) {
    return Invalid(field.c_str(), absl::StrCat("larger than ", max_bytes, " bytes"));
  }
  if (json.find('\0') != std::string::npos || json.find("\\u0000") != std::string::npos) {
    return Invalid(field.c_str(), "must not contain U+0000");
  }
  if (!google::protobuf::util::JsonStringToMessage(json, &shape).ok()) {
    return Invalid(field.c_str(), absl::StrCat("must be ", expected));
  }
  return absl::OkStatus();
}

absl::Status CheckTasks(const google::protobuf::RepeatedPtrField<v1::CeleryTask>& tasks) {
  const TaskLimits& limits = TaskLimitsOf();
  if (tasks.size() > limits.tasks) return Invalid("enqueue", absl::StrCat("more than ", limits.tasks, " tasks"));
  for (int i = 0; i < tasks.size(); ++i) {
    const v1::CeleryTask& t = tasks[i];
    const std::string at = absl::StrCat("enqueue[", i, "].");
    if (auto s = CheckTaskName(at + "task", t.task(), true, limits.name_bytes); !s.ok()) return s;
    if (auto s = CheckTaskName(at + "queue", t.queue(), false, limits.queue_bytes); !s.ok()) return s;
    if (auto s = CheckTaskJson(at + "args_json", t.args_json(), google::protobuf::ListValue(), "a JSON array",
                               limits.args_bytes);
        !s.ok()) {
      return s;
    }
    if (auto s = CheckTaskJson(at + "kwargs_json", t.kwargs_json(), google::protobuf::Struct(), "a JSON object",
                               limits.kwargs_bytes);
        !s.ok()) {
      return s;
    }
    if (t.countdown_seconds() < 0 || t.countdown_seconds() > limits.countdown_seconds) {
      return Invalid((at + "countdown_seconds").c_str(), absl::StrCat("must be 0..", limits.countdown_seconds));
    }
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
  return CheckTasks(request.enqueue());
}

absl::StatusOr<ReadPlan> ValidateGet(const v1::GetDocumentRequest& request, const store::Cluster& cluster) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  return PlanRead(request.consistency(), request.consistency_token(), cluster);
}

absl::StatusOr<ReadPlan> ValidateWaitVisible(const v1::WaitVisibleRequest& request, const store::Cluster& cluster) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  return PlanRead(request.consistency(), request.consistency_token(), cluster);
}

absl::StatusOr<int64_t> LeaseMillis(const char* field, const google::protobuf::Duration& d) {
  const int64_t ms = d.seconds() * 1000 + d.nanos() / 1000000;
  if (d.seconds() < 0 || d.nanos() < 0 || ms < kMinLeaseMillis || ms > kMaxLeaseMillis) {
    return Invalid(field, "must be from 1s to 24h");
  }
  return ms;
}

absl::StatusOr<int64_t> ValidateUpdateStatus(const v1::UpdateDocumentStatusRequest& request, const Limits& limits) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  if (request.status() == v1::DOCUMENT_STATUS_UNSPECIFIED) return Invalid("status", "required");
  if (!IsKnownStatus(request.status())) return Invalid("status", "unknown value");
  if (auto s = CheckText("status_detail", request.status_detail(), limits.max_status_detail_bytes); !s.ok()) {
    return s;
  }
  if (request.expected_version() < 0) return Invalid("expected_version", "must not be negative");
  if (auto s = CheckTasks(request.enqueue()); !s.ok()) return s;
  static const int64_t max_holder = ProtoLimit(v1::UpdateDocumentStatusRequest::descriptor(), "lease_holder");
  if (auto s = CheckText("lease_holder", request.lease_holder(), max_holder); !s.ok()) return s;
  static const int64_t max_attempts = ProtoLimit(v1::UpdateDocumentStatusRequest::descriptor(), "max_attempts");
  if (request.max_attempts() < 0 || request.max_attempts() > max_attempts) {
    return Invalid("max_attempts", absl::StrCat("must be 0 to ", max_attempts));
  }
  if (!request.has_lease_duration()) {
    if (!request.lease_holder().empty()) return Invalid("lease_holder", "only with lease_duration");
    if (request.max_attempts() != 0) return Invalid("max_attempts", "only with lease_duration");
    return 0;
  }
  if (request.status() != v1::PROCESSING) return Invalid("lease_duration", "only with status PROCESSING");
  return LeaseMillis("lease_duration", request.lease_duration());
}

absl::StatusOr<int64_t> ValidateRenewLease(const v1::RenewLeaseRequest& request) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  if (request.version() < 1) return Invalid("version", "required: the version the lease was taken at");
  if (!request.has_lease_duration()) return Invalid("lease_duration", "required");
  return LeaseMillis("lease_duration", request.lease_duration());
}

absl::Status ValidateList(const v1::ListDocumentsRequest& request) {
  if (request.status() != v1::DOCUMENT_STATUS_UNSPECIFIED && !IsKnownStatus(request.status())) {
    return Invalid("status", "unknown value");
  }
  if (request.page_size() < 0) return Invalid("page_size", "must not be negative");
  return absl::OkStatus();
}

absl::Status ValidateRetry(const v1::RetryDocumentRequest& request, const Limits& limits) {
  if (auto s = CheckId("id", request.id()); !s.ok()) return s;
  if (request.expected_version() < 0) return Invalid("expected_version", "must not be negative");
  if (request.attempts() != v1::RESET_ATTEMPTS && request.attempts() != v1::KEEP_ATTEMPTS) {
    return Invalid("attempts", "required: RESET_ATTEMPTS or KEEP_ATTEMPTS");
  }
  return CheckText("status_detail", request.status_detail(), limits.max_status_detail_bytes);
}

absl::Status ValidateListTasks(const v1::ListDocumentTasksRequest& request) { return CheckId("id", request.id()); }

}  // namespace docgate::service
