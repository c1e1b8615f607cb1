#include "server/service/grpc_document_service.h"

#include "server/service/read_plan.h"

namespace docgate::service {

namespace {

// A CallBatcher::Serve that hands a batch's requests and responses to `serve_many`.
template <typename Request, typename Response, typename ServeMany>
auto ServeWith(ServeMany serve_many) {
  return [serve_many](const std::vector<rpc::BatchedCall<Request, Response>*>& calls,
                      std::vector<absl::Status>& statuses, const db::QueryContext& ctx) {
    std::vector<const Request*> requests;
    std::vector<Response*> responses;
    for (const auto* call : calls) {
      requests.push_back(call->request);
      responses.push_back(call->response);
    }
    serve_many(requests, responses, statuses, ctx);
  };
}

// Serves a batch of GetDocument calls from `source` (the replicas and the
// ReadSources outlive the service).
auto ServeReads(const ReadEnv& env, const replicas::ReadSource& source) {
  return ServeWith<v1::GetDocumentRequest, v1::GetDocumentResponse>(
      [env, &source](auto&... args) { ReadManyFrom(env, source, args...); });
}

// A batcher's default options, with the size of each batch counted under `method`.
template <typename Batcher>
typename Batcher::Options SizedBatches(Metrics& metrics, const char* method) {
  typename Batcher::Options options;
  prometheus::Histogram* sizes = &metrics.batch_size(method);
  options.observe_size = [sizes](size_t n) { sizes->Observe(static_cast<double>(n)); };
  return options;
}

}  // namespace

GrpcDocumentService::GrpcDocumentService(DocumentService& logic, CallAuthorization auth, rpc::CallEnv env,
                                         WaitEnv wait_env, ReadEnv read_env)
    : logic_(logic),
      auth_(auth),
      env_(env),
      wait_env_(wait_env),
      read_env_(read_env),
      get_batcher_(env.work_queue, SizedBatches<GetBatcher>(env.metrics, "GetDocument"),
                   ServeReads(read_env, read_env.replicas.primary()), env.clock),
      create_batcher_(env.work_queue, SizedBatches<CreateBatcher>(env.metrics, "CreateDocument"),
                      ServeWith<v1::CreateDocumentRequest, v1::CreateDocumentResponse>(
                          [&logic](auto&... args) { logic.CreateMany(args...); }),
                      env.clock) {
  for (size_t i = 0; i < read_env.replicas.size(); ++i) {
    replica_get_batchers_.push_back(
        std::make_unique<GetBatcher>(env.work_queue, SizedBatches<GetBatcher>(env.metrics, "GetDocument"),
                                     ServeReads(read_env, read_env.replicas.replica(i)), env.clock));
  }
}

GrpcDocumentService::GetBatcher& GrpcDocumentService::BatcherFor(const replicas::ReadSource& source) {
  return source.is_replica() ? *replica_get_batchers_[static_cast<size_t>(source.replica)] : get_batcher_;
}

grpc::ServerUnaryReactor* GrpcDocumentService::Admit(grpc::CallbackServerContext* context, const char* method,
                                                     security::Scope scope, std::string* caller) {
  if (auto* refused = auth_.Refuse(context, method, scope, caller)) return refused;
  if (env_.gate.Enter()) return nullptr;
  return rpc::RefuseRpc(context, env_.metrics.rpc(method), absl::UnavailableError("server is shutting down; retry"));
}

template <typename Request, typename Response, typename Serve>
grpc::ServerUnaryReactor* GrpcDocumentService::RunUnary(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request, grpc::ByteBuffer* response,
                                                        const char* method, security::Scope scope, Serve serve) {
  std::string caller;
  if (auto* refused = Admit(context, method, scope, &caller)) return refused;
  auto* call = rpc::UnaryCall<Request, Response>::Accept(env_, context, request, response, method, caller);
  if (call->parsed()) call->Run(std::move(serve));
  return call;
}

grpc::ServerUnaryReactor* GrpcDocumentService::CreateDocument(grpc::CallbackServerContext* context,
                                                              const grpc::ByteBuffer* request,
                                                              grpc::ByteBuffer* response) {
  std::string caller;
  if (auto* refused = Admit(context, "CreateDocument", security::kWrite, &caller)) return refused;
  auto* call = rpc::UnaryCall<v1::CreateDocumentRequest, v1::CreateDocumentResponse>::Accept(
      env_, context, request, response, "CreateDocument", caller);
  if (call->parsed()) call->Join(create_batcher_);
  return call;
}

grpc::ServerUnaryReactor* GrpcDocumentService::GetDocument(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  std::string caller;
  if (auto* refused = Admit(context, "GetDocument", security::kRead, &caller)) return refused;
  auto* call = rpc::UnaryCall<v1::GetDocumentRequest, v1::GetDocumentResponse>::Accept(env_, context, request, response,
                                                                                       "GetDocument", caller);
  if (!call->parsed()) return call;
  const auto plan =
      PlanRead(call->request().consistency(), call->request().consistency_token(), read_env_.logic.cluster());
  if (!plan.ok() || plan->mode == replicas::ReadMode::kPrimary || read_env_.replicas.empty()) {
    // The primary's batch serves these (and its validation refuses a bad plan).
    call->Join(get_batcher_);
    return call;
  }
  call->Route([this, plan = *plan](auto deadline, std::function<void(GetBatcher&)> join) {
    read_env_.replicas.Route(plan.mode, plan.lsn, deadline,
                             [this, join](const replicas::ReadSource& source) { join(BatcherFor(source)); });
  });
  return call;
}

grpc::ServerUnaryReactor* GrpcDocumentService::WaitVisible(grpc::CallbackServerContext* context,
                                                           const grpc::ByteBuffer* request,
                                                           grpc::ByteBuffer* response) {
  std::string caller;
  if (auto* refused = Admit(context, "WaitVisible", security::kRead, &caller)) return refused;
  return StartWaitVisible(wait_env_, context, request, response, std::move(caller));
}

grpc::ServerUnaryReactor* GrpcDocumentService::UpdateDocumentStatus(grpc::CallbackServerContext* context,
                                                                    const grpc::ByteBuffer* request,
                                                                    grpc::ByteBuffer* response) {
  return RunUnary<v1::UpdateDocumentStatusRequest, v1::UpdateDocumentStatusResponse>(
      context, request, response, "UpdateDocumentStatus", security::kWrite,
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.UpdateStatus(req, resp, ctx); });
}

grpc::ServerUnaryReactor* GrpcDocumentService::RenewLease(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request, grpc::ByteBuffer* response) {
  return RunUnary<v1::RenewLeaseRequest, v1::RenewLeaseResponse>(
      context, request, response, "RenewLease", security::kWrite, [this](const auto& req, auto* resp, const auto& ctx) {
        absl::Status s = logic_.RenewLease(req, resp, ctx);
        if (s.ok()) env_.metrics.leases().renewed.Increment();
        return s;
      });
}

grpc::ServerUnaryReactor* GrpcDocumentService::ListDocuments(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return RunUnary<v1::ListDocumentsRequest, v1::ListDocumentsResponse>(
      context, request, response, "ListDocuments", security::kRead,
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.List(req, resp, ctx); });
}

grpc::ServerUnaryReactor* GrpcDocumentService::RetryDocument(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return RunUnary<v1::RetryDocumentRequest, v1::RetryDocumentResponse>(
      context, request, response, "RetryDocument", security::kWrite,
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.Retry(req, resp, ctx); });
}

grpc::ServerUnaryReactor* GrpcDocumentService::ListDocumentTasks(grpc::CallbackServerContext* context,
                                                                 const grpc::ByteBuffer* request,
                                                                 grpc::ByteBuffer* response) {
  return RunUnary<v1::ListDocumentTasksRequest, v1::ListDocumentTasksResponse>(
      context, request, response, "ListDocumentTasks", security::kRead,
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.Tasks(req, resp, ctx); });
}

}  // namespace docgate::service
