#pragma once

#include <memory>
#include <vector>

#include "docgate/v1/docgate.grpc.pb.h"
#include "server/rpc/unary_call.h"
#include "server/service/call_authorization.h"
#include "server/service/document_service.h"
#include "server/service/routed_read.h"
#include "server/service/wait_visible_call.h"

namespace docgate::service {

// Every method of docgate.v1.DocumentService on gRPC's callback API, taking and
// giving bytes: we parse requests ourselves (rpc/wire_format.h).
using RawDocumentService = v1::DocumentService::WithRawCallbackMethod_CreateDocument<
    v1::DocumentService::WithRawCallbackMethod_GetDocument<v1::DocumentService::WithRawCallbackMethod_WaitVisible<
        v1::DocumentService::WithRawCallbackMethod_UpdateDocumentStatus<
            v1::DocumentService::WithRawCallbackMethod_RenewLease<
                v1::DocumentService::WithRawCallbackMethod_ListDocuments<
                    v1::DocumentService::WithRawCallbackMethod_RetryDocument<
                        v1::DocumentService::WithRawCallbackMethod_ListDocumentTasks<
                            v1::DocumentService::Service>>>>>>>>;

// docgate.v1.DocumentService: each method hands its work to UnaryCall, which
// parses the request and runs DocumentService on our threads (GetDocument and
// CreateDocument in batches). Every call shows its bearer token first (when
// tokens are asked); reads that may use a replica are routed.
class GrpcDocumentService final : public RawDocumentService {
 public:
  GrpcDocumentService(DocumentService& logic, CallAuthorization auth, rpc::CallEnv env, WaitEnv wait_env,
                      ReadEnv read_env);

  grpc::ServerUnaryReactor* CreateDocument(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetDocument(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* WaitVisible(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpdateDocumentStatus(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RenewLease(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListDocuments(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* RetryDocument(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListDocumentTasks(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                              grpc::ByteBuffer* response) override;

 private:
  DocumentService& logic_;
  const CallAuthorization auth_;
  const rpc::CallEnv env_;
  const WaitEnv wait_env_;
  const ReadEnv read_env_;
  using GetBatcher = rpc::CallBatcher<v1::GetDocumentRequest, v1::GetDocumentResponse>;
  using CreateBatcher = rpc::CallBatcher<v1::CreateDocumentRequest, v1::CreateDocumentResponse>;
  GetBatcher& BatcherFor(const replicas::ReadSource& source);
  // nullptr when the call may go on (and must leave the gate when done), `caller`
  // named; else the reactor of a call already refused: a bad token or caller header,
  // or the server shutting down.
  grpc::ServerUnaryReactor* Admit(grpc::CallbackServerContext* context, const char* method, security::Scope scope,
                                  std::string* caller);
  // A method answered by one DocumentService call on our threads: `serve(request,
  // response, ctx)` returns its status.
  template <typename Request, typename Response, typename Serve>
  grpc::ServerUnaryReactor* RunUnary(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response, const char* method, security::Scope scope,
                                     Serve serve);

  // Concurrent GetDocument calls share one query (id = ANY($1)) per source: the
  // primary's batcher, and one per replica; concurrent CreateDocument calls one
  // INSERT, so one transaction and one WAL flush.
  GetBatcher get_batcher_;
  std::vector<std::unique_ptr<GetBatcher>> replica_get_batchers_;
  CreateBatcher create_batcher_;
};

}  // namespace docgate::service
