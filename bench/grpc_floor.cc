// grpc_floor: GetDocument and CreateDocument answered at once (no queue, no
// database) with responses the size of docgate's, on gRPC's callback API or (reads
// only) on its completion-queue async API: what gRPC alone costs on this machine,
// the ceiling for any gRPC service here, and which server API costs less
// (bench/RESULTS.md; bench/compare.py runs it as the target "floor").
//
//   grpc_floor --api callback|async --port PORT [--threads N]
//
// Drive it with `loadgen --scenario get --addr 127.0.0.1:PORT`; stop it with SIGTERM.
#include <grpcpp/grpcpp.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "docgate/v1/docgate.grpc.pb.h"

namespace {

namespace v1 = docgate::v1;

// What docgate returns for a document of the warm set (bench/loadgen's seed),
// without its body, as GetDocument and CreateDocument answer by default.
void FillDocument(const std::string& id, v1::Document* doc) {
  doc->set_id(id);
  doc->set_name("warm");
  doc->set_source_uri("s3://bench/warm");
  doc->set_content_type("text/plain");
  doc->set_status(v1::PENDING);
  doc->set_version(1);
  doc->mutable_create_time()->set_seconds(1795000000);
  doc->mutable_create_time()->set_nanos(123456000);
  *doc->mutable_update_time() = doc->create_time();
}

void Answer(const v1::GetDocumentRequest& request, v1::GetDocumentResponse* response) {
  FillDocument(request.id(), response->mutable_document());
  response->set_served_by("primary");
}

class CallbackFloor final : public v1::DocumentService::CallbackService {
  grpc::ServerUnaryReactor* GetDocument(grpc::CallbackServerContext* context, const v1::GetDocumentRequest* request,
                                        v1::GetDocumentResponse* response) override {
    Answer(*request, response);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerUnaryReactor* CreateDocument(grpc::CallbackServerContext* context,
                                           const v1::CreateDocumentRequest* request,
                                           v1::CreateDocumentResponse* response) override {
    FillDocument(request->document().id(), response->mutable_document());
    response->set_created(true);
    response->set_consistency_token("AQAAAAABY2RlZmdoaWprbG0");  // as long as docgate's
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

// One GetDocument on the async API: requested, then answered, then deleted.
class AsyncCall {
 public:
  AsyncCall(v1::DocumentService::AsyncService& service, grpc::ServerCompletionQueue& cq)
      : service_(service), cq_(cq), responder_(&context_) {
    service_.RequestGetDocument(&context_, &request_, &responder_, &cq_, &cq_, this);
  }

  // Called with this call's tag as the queue returns it.
  void Proceed(bool ok) {
    if (answered_ || !ok) {
      delete this;
      return;
    }
    new AsyncCall(service_, cq_);  // the next call on this queue
    Answer(request_, &response_);
    answered_ = true;
    responder_.Finish(response_, grpc::Status::OK, this);
  }

 private:
  v1::DocumentService::AsyncService& service_;
  grpc::ServerCompletionQueue& cq_;
  grpc::ServerContext context_;
  v1::GetDocumentRequest request_;
  v1::GetDocumentResponse response_;
  grpc::ServerAsyncResponseWriter<v1::GetDocumentResponse> responder_;
  bool answered_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::string api = "callback";
  int port = 0, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--api")
      api = value;
    else if (flag == "--port")
      port = std::atoi(value.c_str());
    else if (flag == "--threads")
      threads = std::atoi(value.c_str());
  }
  if ((api != "callback" && api != "async") || port <= 0 || threads < 1) {
    std::fprintf(stderr, "usage: grpc_floor --api callback|async --port PORT [--threads N]\n");
    return 64;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials());
  CallbackFloor callback;
  v1::DocumentService::AsyncService async;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  if (api == "callback") {
    builder.RegisterService(&callback);
  } else {
    builder.RegisterService(&async);
    for (int i = 0; i < threads; ++i) queues.push_back(builder.AddCompletionQueue());
  }
  auto server = builder.BuildAndStart();
  if (server == nullptr) return 1;
  std::vector<std::thread> pollers;
  for (auto& cq : queues) {
    pollers.emplace_back([&async, q = cq.get()] {
      for (int i = 0; i < 64; ++i) new AsyncCall(async, *q);  // calls waiting to be matched
      void* tag;
      bool ok;
      while (q->Next(&tag, &ok)) static_cast<AsyncCall*>(tag)->Proceed(ok);
    });
  }
  std::printf("listening on 127.0.0.1:%d (%s API)\n", port, api.c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  server->Shutdown();
  for (auto& cq : queues) cq->Shutdown();
  for (auto& t : pollers) t.join();
  return 0;
}
