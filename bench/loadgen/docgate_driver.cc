#include "docgate_driver.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "docgate/v1/docgate.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace loadgen {
namespace {

namespace v1 = docgate::v1;
namespace health = grpc::health::v1;

constexpr auto kCallDeadline = std::chrono::seconds(30);

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

// One RPC in flight; the completion queue hands it back as its tag.
struct Call {
  Clock::time_point intended;  // when it was due to start (open loop) or started
  size_t slot = 0;             // closed loop: the slot it occupies
  grpc::ClientContext context;
  grpc::Status status;
  v1::GetDocumentResponse get_response;
  v1::CreateDocumentResponse create_response;
  v1::ListDocumentsResponse list_response;
  health::HealthCheckResponse health_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::GetDocumentResponse>> get;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CreateDocumentResponse>> create;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::ListDocumentsResponse>> list;
  std::unique_ptr<grpc::ClientAsyncResponseReader<health::HealthCheckResponse>> check;
};

class Driver {
 public:
  explicit Driver(const RunOptions& options) : options_(options) {
    const int channels = options.channels > 0 ? options.channels : std::min(options.concurrency, 64);
    for (int i = 0; i < std::max(channels, 1); ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own TCP connection, like a separate worker
      args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 16 << 20);
      auto channel = grpc::CreateCustomChannel(options.addr, grpc::InsecureChannelCredentials(), args);
      stubs_.push_back(v1::DocumentService::NewStub(channel));
      health_stubs_.push_back(health::Health::NewStub(channel));
    }
    for (int i = 0; i < std::max(options.threads, 1); ++i) {
      queues_.push_back(std::make_unique<grpc::CompletionQueue>());
      pickers_.emplace_back(options.scenario, options.warm_set, 0x5eed + i);
    }
  }

  RunTotals Run(WindowClock& clock) {
    ConnectAll();
    window_ = clock.Begin();
    std::vector<std::thread> pollers;
    for (size_t q = 0; q < queues_.size(); ++q) pollers.emplace_back([this, q] { Poll(q); });
    if (options_.rate > 0) {
      Dispatch();
    } else {
      for (size_t slot = 0; slot < static_cast<size_t>(options_.concurrency); ++slot) {
        Start(slot, slot % queues_.size(), Clock::now());
      }
    }
    // Closed loop: pollers stop starting calls at the window's end and exit once
    // theirs are all back. Open loop: Dispatch has returned after the last start.
    dispatching_done_ = true;
    for (auto& t : pollers) t.join();
    clock.AwaitEnd();
    for (auto& cq : queues_) {
      cq->Shutdown();
      void* tag;
      bool ok;
      while (cq->Next(&tag, &ok)) {
      }
    }
    return recorder_.Take();
  }

 private:
  void ConnectAll() {
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
    // A health check through every channel: connections are up and warm before the
    // clock starts, without waiting in docgate's queue behind another load.
    for (auto& stub : health_stubs_) {
      grpc::ClientContext ctx;
      ctx.set_deadline(deadline);
      health::HealthCheckRequest req;
      health::HealthCheckResponse resp;
      stub->Check(&ctx, req, &resp);
    }
  }

  void Start(size_t slot, size_t queue, Clock::time_point intended) {
    auto* call = new Call;
    call->intended = intended;
    call->slot = slot;
    call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    if (!options_.caller.empty()) call->context.AddMetadata("x-docgate-caller", options_.caller);
    auto& stub = *stubs_[slot % stubs_.size()];
    auto& picker = pickers_[queue];
    auto* cq = queues_[queue].get();
    ++outstanding_;
    // Each completion-queue thread starts only its own calls (pickers are per queue);
    // the open-loop dispatcher is the one other caller, and it owns no queue.
    std::lock_guard<std::mutex> lock(picker_mu_[queue % kPickerLocks]);
    switch (picker.Next()) {
      case Op::kCreate: {
        v1::CreateDocumentRequest req;
        auto* doc = req.mutable_document();
        doc->set_id(picker.IdToCreate());
        doc->set_name("bench");
        doc->set_source_uri("s3://bench/doc");
        doc->set_content_type("text/plain");
        doc->set_body(CreateBody());
        if (!options_.enqueue.empty()) {
          auto* task = req.add_enqueue();
          task->set_task("bench.task");
          task->set_queue(options_.enqueue);
          task->set_args_json("[\"" + doc->id() + "\"]");
        }
        call->create = stub.AsyncCreateDocument(&call->context, req, cq);
        call->create->Finish(&call->create_response, &call->status, call);
        break;
      }
      case Op::kGet: {
        v1::GetDocumentRequest req;
        req.set_id(picker.WarmIdToGet());
        req.set_consistency(static_cast<v1::Consistency>(options_.consistency));
        req.set_consistency_token(options_.token);
        call->get = stub.AsyncGetDocument(&call->context, req, cq);
        call->get->Finish(&call->get_response, &call->status, call);
        break;
      }
      case Op::kList: {
        v1::ListDocumentsRequest req;
        req.set_page_size(options_.page_size);
        call->list = stub.AsyncListDocuments(&call->context, req, cq);
        call->list->Finish(&call->list_response, &call->status, call);
        break;
      }
      case Op::kHealth: {
        health::HealthCheckRequest req;
        call->check = health_stubs_[slot % health_stubs_.size()]->AsyncCheck(&call->context, req, cq);
        call->check->Finish(&call->health_response, &call->status, call);
        break;
      }
    }
  }

  void Poll(size_t queue) {
    Recorder::Shard shard;
    auto& cq = *queues_[queue];
    while (true) {
      void* tag = nullptr;
      bool ok = false;
      const auto got = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::milliseconds(50));
      if (got == grpc::CompletionQueue::SHUTDOWN) break;
      if (got == grpc::CompletionQueue::TIMEOUT) {
        if (dispatching_done_ && outstanding_ == 0) break;
        continue;
      }
      std::unique_ptr<Call> call(static_cast<Call*>(tag));
      if (call->create != nullptr && call->status.ok() && options_.scenario == Scenario::kReadYourWrites) {
        ReadBack(*call, queue);  // the operation's second half; it ends there
        continue;
      }
      const auto now = Clock::now();
      if (window_.Contains(now)) {
        if (call->status.ok()) {
          shard.Ok(now - call->intended);
        } else {
          shard.Error(CodeName(call->status.error_code()));
        }
      }
      if (options_.rate <= 0 && now < window_.end) Start(call->slot, queue, now);
      --outstanding_;
      if (dispatching_done_ && outstanding_ == 0) break;
    }
    recorder_.Merge(shard);
  }

  // Reads the document `created` made, with its token, as part of the same operation.
  void ReadBack(const Call& created, size_t queue) {
    auto* call = new Call;
    call->intended = created.intended;
    call->slot = created.slot;
    call->context.set_deadline(std::chrono::system_clock::now() + kCallDeadline);
    if (!options_.caller.empty()) call->context.AddMetadata("x-docgate-caller", options_.caller);
    v1::GetDocumentRequest req;
    req.set_id(created.create_response.document().id());
    req.set_consistency_token(created.create_response.consistency_token());
    req.set_consistency(static_cast<v1::Consistency>(options_.consistency));
    call->get = stubs_[call->slot % stubs_.size()]->AsyncGetDocument(&call->context, req, queues_[queue].get());
    call->get->Finish(&call->get_response, &call->status, call);
  }

  // Open loop: the i-th call is due at start + i / rate, late or not.
  void Dispatch() {
    const auto first = Clock::now();
    const auto step = std::chrono::duration<double>(1.0 / options_.rate);
    for (int64_t i = 0;; ++i) {
      const auto due = first + std::chrono::duration_cast<Clock::duration>(step * static_cast<double>(i));
      if (due >= window_.end) break;
      std::this_thread::sleep_until(due);
      Start(static_cast<size_t>(i), static_cast<size_t>(i) % queues_.size(), due);
    }
  }

  static constexpr size_t kPickerLocks = 64;
  const RunOptions options_;
  std::vector<std::unique_ptr<v1::DocumentService::Stub>> stubs_;
  std::vector<std::unique_ptr<health::Health::Stub>> health_stubs_;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues_;
  std::vector<OperationPicker> pickers_;
  std::mutex picker_mu_[kPickerLocks];
  std::atomic<int64_t> outstanding_{0};
  std::atomic<bool> dispatching_done_{false};
  Window window_;
  Recorder recorder_;
};

}  // namespace

RunTotals RunDocgate(const RunOptions& options, WindowClock& clock) {
  Driver driver(options);
  return driver.Run(clock);
}

}  // namespace loadgen
