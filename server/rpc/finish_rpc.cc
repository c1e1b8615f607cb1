#include "server/rpc/finish_rpc.h"

#include "absl/strings/str_cat.h"
#include "server/rpc/failure_log.h"
#include "server/rpc/request_id.h"
#include "server/rpc/wire_format.h"

namespace docgate::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  // DATA_LOSS is the client's to read: a consistency token's write that a failover
  // lost (store::Cluster::ReadWith). Anything of docgate's own goes out as INTERNAL.
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown) {
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("internal error; request_id=", request_id));
  }
  return grpc::Status(code, std::string(status.message()));
}

void FinishRpc(grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* context, RpcMetrics& rpc,
               const std::string& request_id, const Clock& clock, Clock::time_point started, absl::Status status,
               Reply reply) {
  if (status.ok() && reply.message != nullptr) status = SerializeReply(*reply.message, reply.bytes);
  const auto took = clock.Now() - started;
  context->AddTrailingMetadata("x-request-id", request_id);
  if (!status.ok()) LogFailedRpc(rpc.method().c_str(), request_id, status, took);
  grpc::Status wire = ToGrpcStatus(status, request_id);
  rpc.Handled(wire.error_code(), took, wire.error_message());
  reactor->Finish(std::move(wire));
}

grpc::ServerUnaryReactor* RefuseRpc(grpc::CallbackServerContext* context, RpcMetrics& rpc, const absl::Status& status) {
  const Clock& clock = Clock::Real();  // before any work: nothing of it is timed by a test
  const auto started = clock.Now();
  rpc.Started();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishRpc(reactor, context, rpc, RequestIdOf(*context), clock, started, status);
  return reactor;
}

}  // namespace docgate::rpc
