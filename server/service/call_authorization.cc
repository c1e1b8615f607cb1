#include "server/service/call_authorization.h"

#include <algorithm>

#include "server/exec/admission_policy.h"
#include "server/rpc/finish_rpc.h"

namespace docgate::service {
namespace {

constexpr size_t kMaxCallerBytes = 64;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("._:@/-").find(c) != std::string_view::npos;
}

std::optional<std::string_view> Metadata(const grpc::CallbackServerContext& context, const char* key) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(key);
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

}  // namespace

absl::StatusOr<std::string> CallerFromHeader(const grpc::CallbackServerContext& context) {
  const auto header = Metadata(context, kCallerHeader);
  if (!header.has_value()) return std::string(kAnonymousCaller);
  if (header->empty() || header->size() > kMaxCallerBytes || !std::all_of(header->begin(), header->end(), IsNameChar)) {
    return absl::InvalidArgumentError(std::string(kCallerHeader) + ": expected 1 to 64 of A-Z a-z 0-9 . _ : @ / -");
  }
  return std::string(*header);
}

grpc::ServerUnaryReactor* CallAuthorization::Refuse(grpc::CallbackServerContext* context, const char* method,
                                                    security::Scope needed, std::string* caller) const {
  absl::StatusOr<std::string> identity = authenticator_ == nullptr
                                             ? CallerFromHeader(*context)
                                             : authenticator_->Authorize(Metadata(*context, "authorization"), needed);
  if (identity.ok()) {
    *caller = std::move(*identity);
    return nullptr;
  }
  return rpc::RefuseRpc(context, metrics_.rpc(method), identity.status());
}

}  // namespace docgate::service
