#include "server/service/grpc_document_service.h"

namespace docgate::service {

grpc::ServerUnaryReactor* GrpcDocumentService::CreateDocument(grpc::CallbackServerContext* context,
                                                              const v1::CreateDocumentRequest* request,
                                                              v1::CreateDocumentResponse* response) {
  return UnaryCall<v1::CreateDocumentRequest, v1::CreateDocumentResponse>::Start(
      env_, context, request, response, "CreateDocument",
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.Create(req, resp, ctx); });
}

grpc::ServerUnaryReactor* GrpcDocumentService::GetDocument(grpc::CallbackServerContext* context,
                                                           const v1::GetDocumentRequest* request,
                                                           v1::GetDocumentResponse* response) {
  return UnaryCall<v1::GetDocumentRequest, v1::GetDocumentResponse>::Start(
      env_, context, request, response, "GetDocument",
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.Get(req, resp, ctx); });
}

grpc::ServerUnaryReactor* GrpcDocumentService::WaitVisible(grpc::CallbackServerContext* context,
                                                           const v1::WaitVisibleRequest* request,
                                                           v1::WaitVisibleResponse* response) {
  return StartWaitVisible(wait_env_, context, request, response);
}

grpc::ServerUnaryReactor* GrpcDocumentService::UpdateDocumentStatus(grpc::CallbackServerContext* context,
                                                                    const v1::UpdateDocumentStatusRequest* request,
                                                                    v1::UpdateDocumentStatusResponse* response) {
  return UnaryCall<v1::UpdateDocumentStatusRequest, v1::UpdateDocumentStatusResponse>::Start(
      env_, context, request, response, "UpdateDocumentStatus",
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.UpdateStatus(req, resp, ctx); });
}

grpc::ServerUnaryReactor* GrpcDocumentService::ListDocuments(grpc::CallbackServerContext* context,
                                                             const v1::ListDocumentsRequest* request,
                                                             v1::ListDocumentsResponse* response) {
  return UnaryCall<v1::ListDocumentsRequest, v1::ListDocumentsResponse>::Start(
      env_, context, request, response, "ListDocuments",
      [this](const auto& req, auto* resp, const auto& ctx) { return logic_.List(req, resp, ctx); });
}

}  // namespace docgate::service
