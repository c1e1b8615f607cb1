// libFuzzer target: every request message, as bytes off the wire, through the
// validation every RPC runs first; and attributes that pass it through the JSON
// codec they are stored with (what goes in must come back out).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "docgate/v1/docgate.pb.h"
#include "server/config.h"
#include "server/service/validation.h"
#include "server/store/attributes_json.h"

namespace {

using namespace docgate;

// A cluster whose tokens are checked (a token must be of this one).
const store::Cluster& Cluster() {
  static const store::Cluster* cluster = [] {
    auto* c = new store::Cluster();
    c->SetSystemIdentifier(1111);
    return c;
  }();
  return *cluster;
}

template <typename Request, typename Validate>
void Check(const uint8_t* data, size_t size, Validate validate) {
  Request request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return;
  const absl::Status s = validate(request);
  // A refusal always names the field (SPEC: INVALID_ARGUMENT, naming the field).
  if (!s.ok() && (s.code() != absl::StatusCode::kInvalidArgument || s.message().find(':') == std::string::npos)) {
    std::abort();
  }
}

// A validated lease is within its bounds (or none, where none is allowed).
absl::Status LeaseInBounds(const absl::StatusOr<int64_t>& lease_ms, bool none_allowed) {
  if (!lease_ms.ok()) return lease_ms.status();
  const bool none = *lease_ms == 0 && none_allowed;
  if (!none && (*lease_ms < service::kMinLeaseMillis || *lease_ms > service::kMaxLeaseMillis)) std::abort();
  return absl::OkStatus();
}

void RoundTripAttributes(const v1::CreateDocumentRequest& request) {
  store::Attributes attributes(request.document().attributes().begin(), request.document().attributes().end());
  const std::string json = store::EncodeAttributes(attributes);
  auto back = store::DecodeAttributes(json);
  if (!back.ok() || *back != attributes) std::abort();
}

}  // namespace

// Protobuf logs every string field that is not UTF-8; the fuzzer makes millions.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const Limits limits;
  const uint8_t which = data[0] % 9;
  ++data;
  --size;
  switch (which) {
    case 0:
      Check<v1::CreateDocumentRequest>(data, size, [&](const auto& r) {
        auto s = service::ValidateCreate(r, limits);
        if (s.ok()) RoundTripAttributes(r);
        return s;
      });
      break;
    case 1:
      Check<v1::GetDocumentRequest>(data, size,
                                    [](const auto& r) { return service::ValidateGet(r, Cluster()).status(); });
      break;
    case 2:
      Check<v1::WaitVisibleRequest>(data, size,
                                    [](const auto& r) { return service::ValidateWaitVisible(r, Cluster()).status(); });
      break;
    case 3:
      Check<v1::UpdateDocumentStatusRequest>(data, size, [&](const auto& r) {
        return LeaseInBounds(service::ValidateUpdateStatus(r, limits), /*none_allowed=*/true);
      });
      break;
    case 4: Check<v1::ListDocumentsRequest>(data, size, [](const auto& r) { return service::ValidateList(r); }); break;
    case 5:
      Check<v1::RenewLeaseRequest>(data, size, [](const auto& r) {
        return LeaseInBounds(service::ValidateRenewLease(r), /*none_allowed=*/false);
      });
      break;
    case 6:
      Check<v1::RetryDocumentRequest>(data, size, [&](const auto& r) { return service::ValidateRetry(r, limits); });
      break;
    case 7:
      Check<v1::ListDocumentTasksRequest>(data, size, [](const auto& r) { return service::ValidateListTasks(r); });
      break;
    default: {
      // Stored attributes as PostgreSQL hands them back: any text.
      auto decoded = store::DecodeAttributes(std::string_view(reinterpret_cast<const char*>(data), size));
      if (decoded.ok()) {
        auto again = store::DecodeAttributes(store::EncodeAttributes(*decoded));
        if (!again.ok() || *again != *decoded) std::abort();
      }
    }
  }
  return 0;
}
