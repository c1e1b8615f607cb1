// grpc_floor: GetDocument answered at once (no queue, no database) on gRPC's
// callback API or on its completion-queue async API, to measure what gRPC alone
// costs on this machine and which server API costs less (bench/RESULTS.md).
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

class CallbackFloor final : public v1::DocumentService::CallbackService {
  grpc::ServerUnaryReactor* GetDocument(grpc::CallbackServerContext* context, const v1::GetDocumentRequest* request,
                                        v1::GetDocumentResponse* response) override {
    response->mutable_document()->set_id(request->id());
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
    response_.mutable_document()->set_id(request_.id());
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
    if (flag == "--api") api = value;
    else if (flag == "--port") port = std::atoi(value.c_str());
    else if (flag == "--threads") threads = std::atoi(value.c_str());
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
