#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "docgate/v1/docgate.pb.h"
#include "server/config.h"
#include "server/db/with_connection.h"
#include "server/service/read_plan.h"
#include "server/store/cluster.h"
#include "server/store/document_store.h"

namespace docgate::service {

// The API's logic, apart from gRPC wiring: validate, call the store, fill the
// response. Each method blocks on the database, so it runs on our own worker
// threads, never on gRPC's. Returns the status codes that docgate.proto lists.
// Thread-safe.
class DocumentService {
 public:
  // Called with a document right after a write to it committed (to wake the
  // in-process waiters, who answer from it): the row as stored, and its body when
  // the write had it in hand (a create), else null. Must not block.
  using CommitListener = std::function<void(const store::Document& row, const std::string* body)>;

  // Called right after a write that enqueued tasks committed (to wake the outbox
  // relay); must not block. Null: no broker, and a write with tasks is refused.
  using EnqueueListener = std::function<void()>;

  // `cluster` binds the tokens this service issues and checks those it is given.
  DocumentService(store::DocumentStore& store, store::Cluster& cluster, Limits limits,
                  CommitListener on_commit = nullptr, EnqueueListener on_enqueued = nullptr)
      : store_(store),
        cluster_(cluster),
        limits_(limits),
        on_commit_(std::move(on_commit)),
        on_enqueued_(std::move(on_enqueued)) {}

  const store::Cluster& cluster() const { return cluster_; }

  // CreateDocument for many calls at once: one INSERT for all (bodies up to
  // kMaxBatchedBodyBytes; larger ones go alone). statuses[i] is the outcome of
  // requests[i], each validated and answered alone.
  void CreateMany(const std::vector<const v1::CreateDocumentRequest*>& requests,
                  const std::vector<v1::CreateDocumentResponse*>& responses, std::vector<absl::Status>& statuses,
                  const db::QueryContext& ctx);
  // GetDocument for many calls at once, from `from` (a replica's store) or the
  // primary when null: one query for those that want bodies and one for the rest;
  // statuses[i] is the outcome of requests[i] (each validated alone). A token whose
  // position the primary has not reached is INVALID_ARGUMENT: when one is beyond
  // what this instance has seen, the primary is asked its position, once a batch.
  void GetMany(const std::vector<const v1::GetDocumentRequest*>& requests,
               const std::vector<v1::GetDocumentResponse*>& responses, std::vector<absl::Status>& statuses,
               const db::QueryContext& ctx, store::DocumentStore* from = nullptr);
  absl::Status UpdateStatus(const v1::UpdateDocumentStatusRequest& request, v1::UpdateDocumentStatusResponse* response,
                            const db::QueryContext& ctx);
  // Extends a lease (docgate.proto's RenewLease).
  absl::Status RenewLease(const v1::RenewLeaseRequest& request, v1::RenewLeaseResponse* response,
                          const db::QueryContext& ctx);
  absl::Status List(const v1::ListDocumentsRequest& request, v1::ListDocumentsResponse* response,
                    const db::QueryContext& ctx);
  // A FAILED document back to PENDING (docgate.proto's RetryDocument).
  absl::Status Retry(const v1::RetryDocumentRequest& request, v1::RetryDocumentResponse* response,
                     const db::QueryContext& ctx);
  // A document's waiting and remembered tasks (docgate.proto's ListDocumentTasks).
  absl::Status Tasks(const v1::ListDocumentTasksRequest& request, v1::ListDocumentTasksResponse* response,
                     const db::QueryContext& ctx);

  static constexpr int kDefaultPageSize = 50;
  static constexpr int kMaxPageSize = 1000;
  static constexpr size_t kMaxBatchedBodyBytes = 16 * 1024;
  static constexpr int kMaxWaitingTasks = 1000;

 private:
  // Fills a create's response (the ids of `doc`'s tasks when it created the
  // document) and tells the commit listener; true when tasks were enqueued.
  bool Answer(const store::CreateResult& result, const store::NewDocument& doc, v1::CreateDocumentResponse* response);
  // FAILED_PRECONDITION for a write with tasks on a server without a broker.
  absl::Status CheckBroker(int tasks) const;
  // A token for a committed write, whose position the primary has reached.
  std::string TokenFor(const store::WritePosition& commit);
  // Refuses (in `statuses`) the reads among `valid` whose token names a position the
  // primary has not reached, or a write a failover lost (AskWhetherCommitted).
  void RefuseUnreachedPositions(const std::vector<size_t>& valid, const std::vector<ReadPlan>& plans,
                                std::vector<absl::Status>& statuses, const db::QueryContext& ctx);
  // OK when the transaction `plan` asks about committed on the primary; its
  // if_not_committed when it did not; FAILED_PRECONDITION when the primary cannot tell.
  absl::Status AskWhetherCommitted(const ReadPlan& plan, const db::QueryContext& ctx);

  store::DocumentStore& store_;
  store::Cluster& cluster_;
  const Limits limits_;
  const CommitListener on_commit_;
  const EnqueueListener on_enqueued_;
};

}  // namespace docgate::service
