#pragma once

#include <pqxx/connection>

#include <string>
#include <vector>

#include "server/db/pool.h"
#include "server/store/document_store.h"

namespace docgate::store {

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
  absl::StatusOr<Page> List(DocStatus filter, const std::optional<PageCursor>& after, int limit,
                            const db::QueryContext& ctx) override;
  absl::StatusOr<uint64_t> CurrentWalPosition(const db::QueryContext& ctx) override;

  // The documents, bodies included, among `ids` (an ArrayLiteral of canonical UUIDs)
  // that exist now, on a connection the caller owns (the visibility watcher's).
  // Throws what libpqxx throws.
  static std::vector<Document> VisibleDocuments(pqxx::connection& conn, const std::string& ids);

  // How far the server behind `conn` has replayed WAL: a standby's replay position,
  // or a primary's current position (a primary has every write). Throws what
  // libpqxx throws.
  static uint64_t ReplayedWalPosition(pqxx::connection& conn);

 private:
  db::Pool& pool_;
};

}  // namespace docgate::store
