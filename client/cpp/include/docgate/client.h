#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "docgate/v1/docgate.grpc.pb.h"

namespace docgate {

// How UNAVAILABLE is retried (reads and creates only): jittered exponential
// backoff, within the call's deadline.
struct RetryPolicy {
  int max_attempts = 30;  // in practice the deadline ends the retries first
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{1000};
};

struct ClientOptions {
  // The deadline of every call but WaitVisible, retries included.
  std::chrono::milliseconds timeout{10000};
  // WaitVisible's deadline.
  std::chrono::milliseconds wait_timeout{30000};
  RetryPolicy retry;
  // Sent as "authorization: Bearer <token>" when not empty.
  std::string bearer_token;
  // Sent as "x-docgate-caller" when not empty: who this client is for fair
  // admission and per-caller metrics (a server with tokens on uses the token's name).
  std::string caller;
  // TLS: PEM root certificates (empty: the system's), and for mutual TLS the
  // client's certificate chain and key. Plaintext unless `tls` is set.
  bool tls = false;
  std::string tls_root_certs;
  std::string tls_cert_chain;
  std::string tls_private_key;
  // Largest message sent or received (bodies are up to 4 MiB by default).
  int max_message_bytes = 16 * 1024 * 1024;
};

struct CreateResult {
  v1::Document document;
  bool created = false;  // false: the same document already existed (a retried create)
  std::string consistency_token;
  std::vector<std::string> task_ids;  // of the tasks enqueued, in order; none when created is false
};

// How a read may be served (GetDocument, WaitVisible).
struct ReadOptions {
  bool include_body = false;
  // A write's token: the read sees that write, wherever it is served.
  std::string consistency_token;
  // Where the read may go when docgate has replicas (see docgate.proto).
  v1::Consistency consistency = v1::CONSISTENCY_UNSPECIFIED;
};

struct ReadResult {
  v1::Document document;
  std::string served_by;  // "primary", or "replica:HOST:PORT"
};

struct UpdateResult {
  v1::Document document;
  std::string consistency_token;
  std::vector<std::string> task_ids;
};

// A channel with docgate's settings: keepalive every 30 s (the server accepts one
// every 10 s), round_robin over every address of a dns:/// name (a headless
// Kubernetes Service), quick reconnects, message limits, TLS when asked.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target, const ClientOptions& options = {});

// docgate's DocumentService with deadlines, retries and absl::Status results. The
// status code is the gRPC code; the message is the server's. Thread-safe.
class Client {
 public:
  explicit Client(const std::string& target, ClientOptions options = {});
  // Over any stub, for example the generated MockDocumentServiceStub in tests.
  Client(std::shared_ptr<v1::DocumentService::StubInterface> stub, ClientOptions options = {});

  // Chooses the id (a UUIDv7) when `document.id` is empty, before the first
  // attempt, so that retries after UNAVAILABLE are idempotent. The tasks of
  // `enqueue` are delivered to the broker after the create commits, and only if it
  // created the document (see docgate.proto).
  absl::StatusOr<CreateResult> CreateDocument(v1::Document document, std::vector<v1::CeleryTask> enqueue = {});
  absl::StatusOr<v1::Document> GetDocument(const std::string& id, bool include_body = false,
                                           const std::string& consistency_token = "");
  absl::StatusOr<v1::Document> WaitVisible(const std::string& id, bool include_body = false,
                                           const std::string& consistency_token = "");
  // The same reads with every option, saying which source served them.
  absl::StatusOr<ReadResult> GetDocument(const std::string& id, const ReadOptions& read);
  absl::StatusOr<ReadResult> WaitVisible(const std::string& id, const ReadOptions& read);
  // Never retried: after UNAVAILABLE the update may or may not have happened.
  absl::StatusOr<UpdateResult> UpdateStatus(const std::string& id, v1::DocumentStatus status,
                                            const std::string& detail = "", int64_t expected_version = 0,
                                            std::vector<v1::CeleryTask> enqueue = {});
  // Takes the document (PENDING at `version` -> PROCESSING) under a lease of `lease`
  // for `holder`; the document returned carries the version that is the lease's
  // fencing token. Never retried.
  absl::StatusOr<v1::Document> TakeLease(const std::string& id, int64_t version, std::chrono::milliseconds lease,
                                         const std::string& holder = "");
  // Extends the lease taken at `version` to `lease` from now; ABORTED once it was
  // lost. Idempotent: retried like a read.
  absl::StatusOr<v1::Document> RenewLease(const std::string& id, int64_t version, std::chrono::milliseconds lease);
  // For operators: a FAILED document back to PENDING, its attempts reset to 0 or
  // kept, and the tasks it remembers enqueued again (new ids in task_ids).
  // FAILED_PRECONDITION when it is not FAILED. Never retried.
  absl::StatusOr<UpdateResult> RetryDocument(const std::string& id, bool reset_attempts, int64_t expected_version = 0,
                                             const std::string& detail = "");
  // For operators: the document's tasks waiting in the outbox, and those it remembers.
  absl::StatusOr<v1::ListDocumentTasksResponse> ListDocumentTasks(const std::string& id);
  // One page; pass the previous page's next_page_token for the next one.
  absl::StatusOr<v1::ListDocumentsResponse> ListPage(v1::DocumentStatus status, int page_size,
                                                     const std::string& page_token = "");
  // Every document (of `status`, or all when unspecified), page by page, until
  // `visit` returns false or the last page. Returns the first error.
  absl::Status ListAll(v1::DocumentStatus status, const std::function<bool(const v1::Document&)>& visit,
                       int page_size = 100);

  const ClientOptions& options() const { return options_; }

 private:
  std::shared_ptr<v1::DocumentService::StubInterface> stub_;
  ClientOptions options_;
};

// A new UUIDv7 in canonical text (time-ordered, like the server's own ids).
std::string NewDocumentId();

}  // namespace docgate
