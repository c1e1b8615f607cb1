#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/db/with_connection.h"
#include "server/store/document.h"
#include "server/store/page_token.h"
#include "server/store/write_position.h"

namespace docgate::store {

struct CreateResult {
  Document document;  // without the body
  bool created = false;
  WritePosition commit;  // where its write is (for created=false, the position alone)
};

struct UpdateResult {
  Document document;  // without the body
  WritePosition commit;
};

struct StatusUpdate {
  std::string id;
  DocStatus status = DocStatus::kUnspecified;
  std::string status_detail;
  int64_t expected_version = 0;  // 0: any
  std::vector<Task> tasks;       // written with the move only when it takes effect
  int64_t lease_ms = 0;          // > 0 (a move to PROCESSING): take a lease this long
  std::string lease_holder;
  int32_t max_attempts = 0;  // > 0 (with a lease): the document's own bound on lease expiries
};

// What a lease that runs out does (leases::RedeliveryPolicy, as the database applies it).
struct RedeliveryRules {
  int32_t max_attempts = 5;  // for a document without a bound of its own
  // Seconds before the tasks of the n-th expiry are due: delays_s[n-1], the last
  // entry for every later n. Not empty.
  std::vector<int> delays_s{0};
};

// Moves a FAILED document back to PENDING (RetryDocument).
struct RetryMove {
  std::string id;
  int64_t expected_version = 0;  // 0: any
  bool reset_attempts = false;
  std::string status_detail;
};

struct RetryResult {
  Document document;                  // without the body
  std::vector<std::string> task_ids;  // the remembered tasks enqueued again, new ids
  WritePosition commit;
};

// What an operator sees of a document's tasks (ListDocumentTasks).
struct DocumentTasks {
  std::vector<WaitingTask> waiting;  // in the outbox, oldest first
  std::vector<Task> remembered;      // what an expiry or a retry enqueues again (ids empty)
};

// What one pass of expiring leases did.
struct LeaseSweep {
  int64_t expired = 0;                     // documents whose lease ran out: to PENDING, or FAILED at their bound
  int64_t requeued = 0;                    // tasks enqueued again
  int64_t active = 0;                      // documents under a lease after the pass
  std::vector<std::string> dead_lettered;  // ids of those moved to FAILED
};

struct Page {
  std::vector<Document> documents;  // without bodies
  std::optional<PageCursor> next;   // nullopt on the last page
};

// Typed operations on documents: what the service asks of the database.
// PgDocumentStore (pg_document_store.h) is the real one; unit tests give the
// service a fake. Thread-safe. Besides the codes named below, every call may return
// what db::WithConnection returns (UNAVAILABLE, DEADLINE_EXCEEDED...).
class DocumentStore {
 public:
  virtual ~DocumentStore() = default;

  // Inserts, or finds the document already stored under the id: created=false when
  // its content is the same, ALREADY_EXISTS when it differs. Committed before return.
  virtual absl::StatusOr<CreateResult> Create(const NewDocument& doc, const db::QueryContext& ctx) = 0;

  // Create for many documents with one INSERT (one transaction, one WAL flush);
  // results[i] is docs[i]'s, exactly as Create would answer it alone, all with one
  // WAL position read after every commit. The outer status fails the whole batch
  // (UNAVAILABLE when the outcome is unknown: retrying with the same ids is safe).
  virtual absl::StatusOr<std::vector<absl::StatusOr<CreateResult>>> CreateMany(const std::vector<NewDocument>& docs,
                                                                               const db::QueryContext& ctx) = 0;

  // The documents among `ids` (canonical UUIDs) that exist, in any order: one query
  // for many point reads. Absent ids are simply missing from the result.
  virtual absl::StatusOr<std::vector<Document>> GetMany(const std::vector<std::string>& ids, bool include_body,
                                                        const db::QueryContext& ctx) = 0;

  // NOT_FOUND; ABORTED when expected_version does not match; FAILED_PRECONDITION
  // when the move is not allowed from the current status.
  virtual absl::StatusOr<UpdateResult> UpdateStatus(const StatusUpdate& update, const db::QueryContext& ctx) = 0;

  // Extends the lease of the document at `version`, PROCESSING under a lease that
  // has not run out, to `lease_ms` from now. NOT_FOUND; ABORTED otherwise (another
  // version, no lease, or a lease run out: the caller lost the document).
  virtual absl::StatusOr<Document> RenewLease(const std::string& id, int64_t version, int64_t lease_ms,
                                              const db::QueryContext& ctx) = 0;

  // Up to `limit` documents whose lease ran out count one more attempt and go back
  // to PENDING (version + 1, a status_detail saying why) with their remembered tasks
  // enqueued again after `rules`' delay, or, at their bound, to FAILED with nothing
  // enqueued; safe to run from every instance at once (each document is moved once).
  virtual absl::StatusOr<LeaseSweep> ExpireLeases(int limit, const RedeliveryRules& rules,
                                                  const db::QueryContext& ctx) = 0;

  // A FAILED document back to PENDING (version + 1), its attempts reset or kept, its
  // remembered tasks enqueued again at once. NOT_FOUND; ABORTED for another version;
  // FAILED_PRECONDITION when it is not FAILED.
  virtual absl::StatusOr<RetryResult> RetryFailed(const RetryMove& retry, const db::QueryContext& ctx) = 0;

  // The outbox's waiting tasks for a document (up to `limit`), and those it remembers.
  // NOT_FOUND when no document has the id.
  virtual absl::StatusOr<DocumentTasks> Tasks(const std::string& id, int limit, const db::QueryContext& ctx) = 0;

  // Up to `limit` documents after `after` (from the start when nullopt), in
  // (create_time, id) order, of status `filter` unless it is kUnspecified.
  virtual absl::StatusOr<Page> List(DocStatus filter, const std::optional<PageCursor>& after, int limit,
                                    const db::QueryContext& ctx) = 0;

  // The primary's current WAL position (what a replica must replay to be current).
  virtual absl::StatusOr<uint64_t> CurrentWalPosition(const db::QueryContext& ctx) = 0;

  // Whether transaction `xid` (xid8) committed on the primary: true, false (it did
  // not, and will not), or nullopt (too old to tell, or still running).
  virtual absl::StatusOr<std::optional<bool>> Committed(uint64_t xid, const db::QueryContext& ctx) = 0;
};

}  // namespace docgate::store
