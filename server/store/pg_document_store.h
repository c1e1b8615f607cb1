#pragma once

#include <pqxx/connection>

#include <string>
#include <vector>

#include "server/db/pool.h"
#include "server/store/document_store.h"

namespace docgate::store {

// The ids of the documents created after a time, and the database's time then.
struct CreatedSince {
  int64_t now_us = 0;  // the statement's time, database clock, microseconds since the epoch
  std::vector<std::string> ids;
};

// DocumentStore on PostgreSQL: the only place with SQL for documents. Each call
// leases one pool connection for its duration. Thread-safe.
class PgDocumentStore final : public DocumentStore {
 public:
  explicit PgDocumentStore(db::Pool& pool) : pool_(pool) {}

  // Prepares this store's statements on a new connection (a db::ConnectionSetup).
  static void PrepareStatements(pqxx::connection& conn);

  absl::StatusOr<CreateResult> Create(const NewDocument& doc, const db::QueryContext& ctx) override;
  absl::StatusOr<std::vector<absl::StatusOr<CreateResult>>> CreateMany(const std::vector<NewDocument>& docs,
                                                                       const db::QueryContext& ctx) override;
  absl::StatusOr<std::vector<Document>> GetMany(const std::vector<std::string>& ids, bool include_body,
                                                const db::QueryContext& ctx) override;
  absl::StatusOr<UpdateResult> UpdateStatus(const StatusUpdate& update, const db::QueryContext& ctx) override;
  absl::StatusOr<Document> RenewLease(const std::string& id, int64_t version, int64_t lease_ms,
                                      const db::QueryContext& ctx) override;
  absl::StatusOr<LeaseSweep> ExpireLeases(int limit, const RedeliveryRules& rules,
                                          const db::QueryContext& ctx) override;
  absl::StatusOr<RetryResult> RetryFailed(const RetryMove& retry, const db::QueryContext& ctx) override;
  absl::StatusOr<DocumentTasks> Tasks(const std::string& id, int limit, const db::QueryContext& ctx) override;
  absl::StatusOr<Page> List(DocStatus filter, const std::optional<PageCursor>& after, int limit,
                            const db::QueryContext& ctx) override;
  absl::StatusOr<uint64_t> CurrentWalPosition(const db::QueryContext& ctx) override;
  absl::StatusOr<std::optional<bool>> Committed(uint64_t xid, const db::QueryContext& ctx) override;

  // The documents, bodies included, among `ids` (an ArrayLiteral of canonical UUIDs)
  // that exist now, on a connection the caller owns (the visibility watcher's).
  // Throws what libpqxx throws.
  static std::vector<Document> VisibleDocuments(pqxx::connection& conn, const std::string& ids);

  // The ids of the documents visible now whose create_time is after `since_us`
  // (microseconds since the epoch), and the database's time: the
  // watcher's cheap look at what is new. Throws what libpqxx throws.
  static CreatedSince IdsCreatedSince(pqxx::connection& conn, int64_t since_us);

  // How far the server behind `conn` has replayed WAL: a standby's replay position,
  // or a primary's current position (a primary has every write); and on which
  // timeline. Throws what libpqxx throws.
  static ReplayPosition ReplayedWalPosition(pqxx::connection& conn);

 private:
  db::Pool& pool_;
};

}  // namespace docgate::store
