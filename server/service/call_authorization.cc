#include "server/service/call_authorization.h"

#include "server/rpc/finish_rpc.h"

namespace docgate::service {

grpc::ServerUnaryReactor* CallAuthorization::Refuse(grpc::CallbackServerContext* context, const char* method,
                                                    security::Scope needed) const {
  if (authenticator_ == nullptr) return nullptr;
  std::optional<std::string_view> authorization;
  const auto& metadata = context->client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = std::string_view(it->second.data(), it->second.size());
  }
  const absl::Status status = authenticator_->Authorize(authorization, needed);
  if (status.ok()) return nullptr;
  return rpc::RefuseRpc(context, metrics_.rpc(method), status);
}

}  // namespace docgate::service
