#include "server/service/call_authorization.h"

#include "server/exec/admission_policy.h"
#include "server/rpc/finish_rpc.h"

namespace docgate::service {
namespace {

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
  if (!IsCallerName(*header)) {
    return absl::InvalidArgumentError(std::string(kCallerHeader) + ": expected " + kCallerNameRule);
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
