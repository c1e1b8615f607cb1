#pragma once

#include <memory>
#include <vector>

#include "docgate/v1/docgate.grpc.pb.h"
#include "server/service/call_authorization.h"
#include "server/service/document_service.h"
#include "server/service/routed_read.h"
#include "server/service/unary_call.h"
#include "server/service/wait_visible_call.h"

namespace docgate::service {

// docgate.v1.DocumentService on gRPC's callback API: each method hands its work
// to UnaryCall, which runs DocumentService on our threads (GetDocument and
// CreateDocument in batches). Every call shows its bearer token first (when
// tokens are asked); reads that may use a replica are routed.
class GrpcDocumentService final : public v1::DocumentService::CallbackService {
 public:
  GrpcDocumentService(DocumentService& logic, CallAuthorization auth, CallEnv env, WaitEnv wait_env,
                      ReadEnv read_env);

  grpc::ServerUnaryReactor* CreateDocument(grpc::CallbackServerContext* context,
                                           const v1::CreateDocumentRequest* request,
                                           v1::CreateDocumentResponse* response) override;
  grpc::ServerUnaryReactor* GetDocument(grpc::CallbackServerContext* context, const v1::GetDocumentRequest* request,
                                        v1::GetDocumentResponse* response) override;
  grpc::ServerUnaryReactor* WaitVisible(grpc::CallbackServerContext* context, const v1::WaitVisibleRequest* request,
                                        v1::WaitVisibleResponse* response) override;
  grpc::ServerUnaryReactor* UpdateDocumentStatus(grpc::CallbackServerContext* context,
                                                 const v1::UpdateDocumentStatusRequest* request,
                                                 v1::UpdateDocumentStatusResponse* response) override;
  grpc::ServerUnaryReactor* ListDocuments(grpc::CallbackServerContext* context,
                                          const v1::ListDocumentsRequest* request,
                                          v1::ListDocumentsResponse* response) override;

 private:
  DocumentService& logic_;
  const CallAuthorization auth_;
  const CallEnv env_;
  const WaitEnv wait_env_;
  const ReadEnv read_env_;
  using GetBatcher = CallBatcher<v1::GetDocumentRequest, v1::GetDocumentResponse>;
  using CreateBatcher = CallBatcher<v1::CreateDocumentRequest, v1::CreateDocumentResponse>;
  GetBatcher& BatcherFor(const replicas::ReadSource& source);

  // Concurrent GetDocument calls share one query (id = ANY($1)) per source: the
  // primary's batcher, and one per replica; concurrent CreateDocument calls one
  // INSERT, so one transaction and one WAL flush.
  GetBatcher get_batcher_;
  std::vector<std::unique_ptr<GetBatcher>> replica_get_batchers_;
  CreateBatcher create_batcher_;
};

}  // namespace docgate::service
