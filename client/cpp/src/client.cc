#include "docgate/client.h"

#include <random>
#include <thread>

namespace docgate {
namespace {

absl::Status FromGrpc(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

// One unary call, with a deadline `timeout` from now for all attempts together.
// UNAVAILABLE is retried when `retry` is given, with jittered exponential backoff,
// unless the next attempt could not start before the deadline.
template <typename Response, typename Call>
absl::StatusOr<Response> Invoke(const Call& call, std::chrono::milliseconds timeout, const RetryPolicy* retry,
                                const ClientOptions& options) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const auto deadline = std::chrono::system_clock::now() + timeout;
  auto backoff = retry != nullptr ? retry->initial_backoff : std::chrono::milliseconds(0);
  for (int attempt = 1;; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(deadline);
    if (!options.bearer_token.empty()) context.AddMetadata("authorization", "Bearer " + options.bearer_token);
    if (!options.caller.empty()) context.AddMetadata("x-docgate-caller", options.caller);
    Response response;
    const grpc::Status status = call(&context, &response);
    if (status.ok()) return response;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || retry == nullptr || attempt >= retry->max_attempts) {
      return FromGrpc(status);
    }
    std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
    const auto delay = std::chrono::milliseconds(jitter(rng));
    if (std::chrono::system_clock::now() + delay >= deadline) return FromGrpc(status);
    std::this_thread::sleep_for(delay);
    backoff = std::min(backoff * 2, retry->max_backoff);
  }
}

}  // namespace

std::string NewDocumentId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const uint64_t millis = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  const uint64_t high = (millis << 16) | 0x7000 | (rng() & 0x0fff);              // time, version 7, rand_a
  const uint64_t low = (rng() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10, rand_b
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out.push_back('-');
    const uint64_t word = i < 16 ? high : low;
    out.push_back(kHex[(word >> (60 - 4 * (i % 16))) & 0xf]);
  }
  return out;
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, const ClientOptions& options) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: gRPC also takes it as the connect timeout.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, 1000);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // this client retries by its own rules
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_root_certs;
    ssl.pem_cert_chain = options.tls_cert_chain;
    ssl.pem_private_key = options.tls_private_key;
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateCustomChannel(target, credentials, args);
}

Client::Client(const std::string& target, ClientOptions options)
    : Client(std::shared_ptr<v1::DocumentService::StubInterface>(
                 v1::DocumentService::NewStub(MakeChannel(target, options))),
             options) {}

Client::Client(std::shared_ptr<v1::DocumentService::StubInterface> stub, ClientOptions options)
    : stub_(std::move(stub)), options_(std::move(options)) {}

absl::StatusOr<CreateResult> Client::CreateDocument(v1::Document document, std::vector<v1::CeleryTask> enqueue) {
  v1::CreateDocumentRequest request;
  *request.mutable_document() = std::move(document);
  for (auto& t : enqueue) *request.add_enqueue() = std::move(t);
  if (request.document().id().empty()) request.mutable_document()->set_id(NewDocumentId());
  auto reply = Invoke<v1::CreateDocumentResponse>(
      [&](grpc::ClientContext* c, v1::CreateDocumentResponse* out) { return stub_->CreateDocument(c, request, out); },
      options_.timeout, &options_.retry, options_);
  if (!reply.ok()) return reply.status();
  return CreateResult{std::move(*reply->mutable_document()),
                      reply->created(),
                      reply->consistency_token(),
                      {reply->task_ids().begin(), reply->task_ids().end()}};
}

absl::StatusOr<v1::Document> Client::GetDocument(const std::string& id, bool include_body,
                                                 const std::string& consistency_token) {
  auto read = GetDocument(id, ReadOptions{include_body, consistency_token});
  if (!read.ok()) return read.status();
  return std::move(read->document);
}

absl::StatusOr<v1::Document> Client::WaitVisible(const std::string& id, bool include_body,
                                                 const std::string& consistency_token) {
  auto read = WaitVisible(id, ReadOptions{include_body, consistency_token});
  if (!read.ok()) return read.status();
  return std::move(read->document);
}

namespace {

template <typename Request>
Request ReadRequest(const std::string& id, const ReadOptions& read) {
  Request request;
  request.set_id(id);
  request.set_include_body(read.include_body);
  request.set_consistency_token(read.consistency_token);
  request.set_consistency(read.consistency);
  return request;
}

template <typename Response>
absl::StatusOr<ReadResult> ToReadResult(absl::StatusOr<Response> reply) {
  if (!reply.ok()) return reply.status();
  return ReadResult{std::move(*reply->mutable_document()), reply->served_by()};
}

}  // namespace

absl::StatusOr<ReadResult> Client::GetDocument(const std::string& id, const ReadOptions& read) {
  const auto request = ReadRequest<v1::GetDocumentRequest>(id, read);
  return ToReadResult(Invoke<v1::GetDocumentResponse>(
      [&](grpc::ClientContext* c, v1::GetDocumentResponse* out) { return stub_->GetDocument(c, request, out); },
      options_.timeout, &options_.retry, options_));
}

absl::StatusOr<ReadResult> Client::WaitVisible(const std::string& id, const ReadOptions& read) {
  const auto request = ReadRequest<v1::WaitVisibleRequest>(id, read);
  return ToReadResult(Invoke<v1::WaitVisibleResponse>(
      [&](grpc::ClientContext* c, v1::WaitVisibleResponse* out) { return stub_->WaitVisible(c, request, out); },
      options_.wait_timeout, &options_.retry, options_));
}

absl::StatusOr<UpdateResult> Client::UpdateStatus(const std::string& id, v1::DocumentStatus status,
                                                  const std::string& detail, int64_t expected_version,
                                                  std::vector<v1::CeleryTask> enqueue) {
  v1::UpdateDocumentStatusRequest request;
  request.set_id(id);
  request.set_status(status);
  request.set_status_detail(detail);
  request.set_expected_version(expected_version);
  for (auto& t : enqueue) *request.add_enqueue() = std::move(t);
  auto reply = Invoke<v1::UpdateDocumentStatusResponse>(
      [&](grpc::ClientContext* c, v1::UpdateDocumentStatusResponse* out) {
        return stub_->UpdateDocumentStatus(c, request, out);
      },
      options_.timeout, /*retry=*/nullptr, options_);
  if (!reply.ok()) return reply.status();
  return UpdateResult{std::move(*reply->mutable_document()),
                      reply->consistency_token(),
                      {reply->task_ids().begin(), reply->task_ids().end()}};
}

namespace {

void SetDuration(std::chrono::milliseconds d, google::protobuf::Duration* to) {
  to->set_seconds(d.count() / 1000);
  to->set_nanos(static_cast<int32_t>(d.count() % 1000) * 1000000);
}

}  // namespace

absl::StatusOr<v1::Document> Client::TakeLease(const std::string& id, int64_t version, std::chrono::milliseconds lease,
                                               const std::string& holder) {
  v1::UpdateDocumentStatusRequest request;
  request.set_id(id);
  request.set_status(v1::PROCESSING);
  request.set_expected_version(version);
  request.set_lease_holder(holder);
  SetDuration(lease, request.mutable_lease_duration());
  auto reply = Invoke<v1::UpdateDocumentStatusResponse>(
      [&](grpc::ClientContext* c, v1::UpdateDocumentStatusResponse* out) {
        return stub_->UpdateDocumentStatus(c, request, out);
      },
      options_.timeout, /*retry=*/nullptr, options_);
  if (!reply.ok()) return reply.status();
  return std::move(*reply->mutable_document());
}

absl::StatusOr<v1::Document> Client::RenewLease(const std::string& id, int64_t version,
                                                std::chrono::milliseconds lease) {
  v1::RenewLeaseRequest request;
  request.set_id(id);
  request.set_version(version);
  SetDuration(lease, request.mutable_lease_duration());
  auto reply = Invoke<v1::RenewLeaseResponse>(
      [&](grpc::ClientContext* c, v1::RenewLeaseResponse* out) { return stub_->RenewLease(c, request, out); },
      options_.timeout, &options_.retry, options_);
  if (!reply.ok()) return reply.status();
  return std::move(*reply->mutable_document());
}

absl::StatusOr<UpdateResult> Client::RetryDocument(const std::string& id, bool reset_attempts, int64_t expected_version,
                                                   const std::string& detail) {
  v1::RetryDocumentRequest request;
  request.set_id(id);
  request.set_attempts(reset_attempts ? v1::RESET_ATTEMPTS : v1::KEEP_ATTEMPTS);
  request.set_expected_version(expected_version);
  request.set_status_detail(detail);
  auto reply = Invoke<v1::RetryDocumentResponse>(
      [&](grpc::ClientContext* c, v1::RetryDocumentResponse* out) { return stub_->RetryDocument(c, request, out); },
      options_.timeout, /*retry=*/nullptr, options_);
  if (!reply.ok()) return reply.status();
  return UpdateResult{std::move(*reply->mutable_document()),
                      reply->consistency_token(),
                      {reply->task_ids().begin(), reply->task_ids().end()}};
}

absl::StatusOr<v1::ListDocumentTasksResponse> Client::ListDocumentTasks(const std::string& id) {
  v1::ListDocumentTasksRequest request;
  request.set_id(id);
  return Invoke<v1::ListDocumentTasksResponse>(
      [&](grpc::ClientContext* c, v1::ListDocumentTasksResponse* out) {
        return stub_->ListDocumentTasks(c, request, out);
      },
      options_.timeout, &options_.retry, options_);
}

absl::StatusOr<v1::ListDocumentsResponse> Client::ListPage(v1::DocumentStatus status, int page_size,
                                                           const std::string& page_token) {
  v1::ListDocumentsRequest request;
  request.set_status(status);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  return Invoke<v1::ListDocumentsResponse>(
      [&](grpc::ClientContext* c, v1::ListDocumentsResponse* out) { return stub_->ListDocuments(c, request, out); },
      options_.timeout, &options_.retry, options_);
}

absl::Status Client::ListAll(v1::DocumentStatus status, const std::function<bool(const v1::Document&)>& visit,
                             int page_size) {
  std::string token;
  do {
    auto page = ListPage(status, page_size, token);
    if (!page.ok()) return page.status();
    for (const auto& doc : page->documents()) {
      if (!visit(doc)) return absl::OkStatus();
    }
    token = page->next_page_token();
  } while (!token.empty());
  return absl::OkStatus();
}

}  // namespace docgate
