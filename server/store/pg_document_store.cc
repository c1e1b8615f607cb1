#include "server/store/pg_document_store.h"

#include <pqxx/binarystring>
#include <pqxx/connection>
#include <pqxx/nontransaction>

#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "server/store/attributes_json.h"
#include "server/store/consistency_token.h"
#include "server/store/pg_array.h"
#include "server/store/pg_rows.h"
#include "server/store/requeue_tasks.h"
#include "server/store/status_moves.h"

namespace docgate::store {
namespace {

// Autocommit statements (pqxx::nontransaction): one round trip each, and each is
// durable when it returns (synchronous_commit stays as the server has it).
constexpr char kInsertInto[] =
    "INSERT INTO documents (id, name, source_uri, content_type, body, attributes, status, status_detail,"
    " version, create_time, update_time)";
constexpr char kInsert[] = "docgate_insert";
constexpr char kInsertValues[] =
    " VALUES ($1, $2, $3, $4, $5, $6::jsonb, 1, '', 1, now(), now()) ON CONFLICT (id) DO NOTHING RETURNING ";

// Many documents in one statement (one transaction, one WAL flush): the columns as
// arrays, bodies as a binary bytea[] (ByteaArrayBinary). It returns only what the
// database chose: the rest of a new row is what the request said.
constexpr char kInsertMany[] = "docgate_insert_many";
constexpr char kInsertManyRows[] =
    " SELECT u.id, u.name, u.source_uri, u.content_type, u.body, u.attributes::jsonb, 1, '', 1, now(), now()"
    " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[])"
    " AS u(id, name, source_uri, content_type, body, attributes)"
    " ON CONFLICT (id) DO NOTHING";
constexpr char kInsertedColumns[] = "id::text, (extract(epoch FROM create_time) * 1000000)::int8";

// kInsertMany with Celery tasks written to the outbox in the same statement (so the
// same transaction), for the documents actually inserted (CTE `ins`) only: a create
// that finds its id taken enqueues nothing. Each row also keeps its tasks ($14, as
// RequeueTasksJson writes them) for a lease that runs out (kExpireLeases).
constexpr char kInsertManyWithTasks[] = "docgate_insert_many_with_tasks";
constexpr char kInsertManyWithTasksRows[] =
    "INSERT INTO documents (id, name, source_uri, content_type, body, attributes, status, status_detail,"
    " version, create_time, update_time, requeue_tasks)"
    " SELECT u.id, u.name, u.source_uri, u.content_type, u.body, u.attributes::jsonb, 1, '', 1, now(), now(),"
    " u.requeue FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[],"
    " $14::text[]) AS u(id, name, source_uri, content_type, body, attributes, requeue)"
    " ON CONFLICT (id) DO NOTHING";
constexpr char kTasksOfInserted[] =
    " tasks AS (INSERT INTO docgate_tasks (slot, task_id, document_id, task, queue, args, kwargs, countdown_s)"
    " SELECT " DOCGATE_TASK_SLOT
    ", t.task_id, t.document_id, t.task, t.queue, t.args, t.kwargs,"
    " t.countdown FROM unnest($7::uuid[], $8::uuid[], $9::text[], $10::text[], $11::text[], $12::text[],"
    " $13::int4[]) AS t(task_id, document_id, task, queue, args, kwargs, countdown) JOIN ins ON ins.id = "
    "t.document_id)";

// The stored row, and whether its content equals the request's (jsonb equality ignores key order).
constexpr char kExisting[] = "docgate_existing";
constexpr char kExistingSql[] =
    ", (name = $2 AND source_uri = $3 AND content_type = $4 AND body = $5 AND attributes = $6::jsonb)"
    " FROM documents WHERE id = $1";

constexpr char kGetMany[] = "docgate_get_many";
constexpr char kGetManyWithBody[] = "docgate_get_many_with_body";
constexpr char kAnyId[] = " WHERE id = ANY($1::uuid[])";

// $6 > 0: the move (to PROCESSING) takes a lease of $6 ms for holder $7, and $8 > 0
// sets the document's own bound on lease expiries; any move clears the lease and the
// redelivery an expiry scheduled (the document was claimed or moved on). A
// document under a lease that has run out does not move: its holder was too late
// (kExpireLeases returns it to PENDING).
constexpr char kUpdateStatus[] = "docgate_update_status";
constexpr char kUpdateStatusSql[] =
    "UPDATE documents SET status = $2, status_detail = $3, version = version + 1, update_time = now(),"
    " max_attempts = CASE WHEN $6::int8 > 0 AND $8::int4 > 0 THEN $8::int4 ELSE max_attempts END,"
    " lease_holder = CASE WHEN $6::int8 > 0 THEN $7::text END, redeliver_at = NULL,"
    " lease_expires_at = CASE WHEN $6::int8 > 0 THEN now() + $6::int8 * interval '1 millisecond' END"
    " WHERE id = $1 AND status = ANY($4::smallint[]) AND ($5::int8 = 0 OR version = $5)"
    " AND (lease_expires_at IS NULL OR lease_expires_at > now()) RETURNING ";

// kUpdateStatus with Celery tasks written in the same statement, only when the move
// matched (CTE `upd`). A move to PENDING ($2 = 1) also keeps its tasks on the row
// ($15) for a lease that runs out.
constexpr char kUpdateStatusWithTasks[] = "docgate_update_status_with_tasks";
constexpr char kKeepTasks[] =
    "UPDATE documents SET requeue_tasks = CASE WHEN $2::smallint = 1 THEN $15::text ELSE requeue_tasks END,";
constexpr char kTasksOfMoved[] =
    " tasks AS (INSERT INTO docgate_tasks (slot, task_id, document_id, task, queue, args, kwargs, countdown_s)"
    " SELECT " DOCGATE_TASK_SLOT
    ", t.task_id, upd.id, t.task, t.queue, t.args, t.kwargs, t.countdown"
    " FROM upd, unnest($9::uuid[], $10::text[], $11::text[], $12::text[], $13::text[], $14::int4[])"
    " AS t(task_id, task, queue, args, kwargs, countdown))";

// Why a move or a renewal matched nothing: the row's status, version, and whether a
// lease it is under has run out.
constexpr char kStatusOfSql[] =
    "SELECT status, version, coalesce(lease_expires_at <= now(), false), lease_expires_at IS NOT NULL"
    " FROM documents WHERE id = $1";

// A holder extends its lease: only its version, only while the lease has not run out.
constexpr char kRenewLease[] = "docgate_renew_lease";
constexpr char kRenewLeaseSql[] =
    "UPDATE documents SET lease_expires_at = now() + $3::int8 * interval '1 millisecond'"
    " WHERE id = $1 AND version = $2 AND status = 2 AND lease_expires_at > now() RETURNING ";

// Keyset pagination; the cursor's time goes back to timestamptz exactly, in microseconds.
constexpr char kListFirst[] = "docgate_list_first";
constexpr char kListAfter[] = "docgate_list_after";
constexpr char kListStatusFirst[] = "docgate_list_status_first";
constexpr char kListStatusAfter[] = "docgate_list_status_after";
constexpr char kAfterCursor[] =
    "(create_time, id) > ('epoch'::timestamptz + $1::int8 * interval '1 microsecond', $2::uuid)";

// NULL for a transaction too old to tell; an error for one not started yet.
constexpr char kTransactionStatus[] = "docgate_transaction_status";
constexpr char kTransactionStatusSql[] = "SELECT pg_xact_status($1::text::xid8)";

constexpr char kReplayed[] = "docgate_replayed";
// A standby's timeline: the one its WAL receiver streams (visible to pg_read_all_stats
// members), else its last restartpoint's, which trails a timeline switch until the
// next restartpoint. A primary's: its WAL file's.
constexpr char kReplayedSql[] =
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text,"
    " CASE WHEN pg_is_in_recovery() THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),"
    " (SELECT timeline_id FROM pg_control_checkpoint()))::int8"
    " ELSE " DOCGATE_TIMELINE_OF("pg_current_wal_lsn()") " END";

constexpr char kVisibleDocuments[] = "docgate_visible_documents";
// One row always: the statement's time, and the ids of the rows created after $1.
constexpr char kCreatedSince[] = "docgate_created_since";
constexpr char kCreatedSinceSql[] =
    "SELECT (extract(epoch FROM statement_timestamp()) * 1000000)::int8, coalesce(string_agg(id::text, ','), '')"
    " FROM documents WHERE create_time > 'epoch'::timestamptz + $1::int8 * interval '1 microsecond'";

// A row just inserted, as it is stored: the request's fields, the database's time.
Document NewRow(const NewDocument& doc, int64_t create_time_us) {
  Document d;
  d.id = doc.id;
  d.name = doc.name;
  d.source_uri = doc.source_uri;
  d.content_type = doc.content_type;
  d.attributes = doc.attributes;
  d.status = DocStatus::kPending;
  d.version = 1;
  d.create_time_us = d.update_time_us = create_time_us;
  return d;
}

// The columns of tasks as array literals, each task under `document_id` (empty:
// the statement supplies it).
struct TaskArrays {
  std::vector<std::string> ids, document_ids, names, queues, args, kwargs, countdowns;

  void Add(const Task& t, const std::string& document_id) {
    ids.push_back(t.id);
    if (!document_id.empty()) document_ids.push_back(document_id);
    names.push_back(t.task);
    queues.push_back(t.queue);
    args.push_back(t.args_json);
    kwargs.push_back(t.kwargs_json);
    countdowns.push_back(std::to_string(t.countdown_seconds));
  }
};

constexpr char kLeaseRanOut[] =
    "the document's lease ran out: another worker may take it over, and this holder's moves are refused";

// Why a move matched no row; OK when it would match now (a concurrent change).
absl::Status WhyNotMoved(pqxx::nontransaction& tx, const StatusUpdate& update) {
  const auto row = StateOf(tx, update.id);
  if (!row.has_value()) return absl::NotFoundError("no document has this id");
  if (update.expected_version > 0 && row->version != update.expected_version) {
    return VersionMoved(update.expected_version, row->version);
  }
  if (!IsAllowedMove(row->status, update.status)) {
    return absl::FailedPreconditionError(
        absl::StrCat("status cannot move from ", StatusName(row->status), " to ", StatusName(update.status)));
  }
  if (row->lease_ran_out) return absl::AbortedError(kLeaseRanOut);
  return absl::OkStatus();
}

// Why a renewal matched no row; OK when it would match now.
absl::Status WhyNotRenewed(pqxx::nontransaction& tx, const std::string& id, int64_t version) {
  const auto row = StateOf(tx, id);
  if (!row.has_value()) return absl::NotFoundError("no document has this id");
  if (row->version != version) return VersionMoved(version, row->version);
  if (row->status != DocStatus::kProcessing || !row->leased) {
    return absl::AbortedError(absl::StrCat("the document is ", StatusName(row->status), " without a lease"));
  }
  if (row->lease_ran_out) return absl::AbortedError(kLeaseRanOut);
  return absl::OkStatus();
}

// The row stored under `doc`'s id, as Create answers it: created=false when its
// content equals `doc`'s, ALREADY_EXISTS when it differs, NOT_FOUND when there is
// none (a concurrent insert that rolled back).
absl::StatusOr<CreateResult> FindExisting(pqxx::nontransaction& tx, const NewDocument& doc,
                                          const std::string& attributes) {
  const pqxx::binarystring body(doc.body.data(), doc.body.size());
  const pqxx::result existing =
      tx.exec_prepared(kExisting, doc.id, doc.name, doc.source_uri, doc.content_type, body, attributes);
  if (existing.empty()) return absl::NotFoundError("created and removed concurrently");
  if (!existing[0][kSameContentColumn].as<bool>()) {
    return absl::AlreadyExistsError("a document with this id exists with different content");
  }
  return CreateResult{FromRow(existing[0], false), false, {}};
}

absl::Status CreatedAndRemoved() {
  return absl::AbortedError("the document was created and removed concurrently; retry");
}

}  // namespace

void PgDocumentStore::PrepareStatements(pqxx::connection& conn) {
  const std::string select = absl::StrCat("SELECT ", kColumns);
  const std::string from_documents = " FROM documents";
  // The columns, not the output names: the output "id" is id::text, whose order no index gives.
  const std::string order = " ORDER BY documents.create_time, documents.id LIMIT $";
  const std::string insert_many = absl::StrCat(kInsertInto, kInsertManyRows);
  conn.prepare(kInsert, absl::StrCat(kInsertInto, kInsertValues, kColumns, kWriteMarks));
  conn.prepare(kInsertMany, absl::StrCat(insert_many, " RETURNING ", kInsertedColumns, kWriteMarks));
  conn.prepare(kInsertManyWithTasks,
               absl::StrCat("WITH ins AS (", kInsertManyWithTasksRows, " RETURNING id, create_time),", kTasksOfInserted,
                            " SELECT ", kInsertedColumns, kWriteMarks, " FROM ins"));
  conn.prepare(kExisting, absl::StrCat(select, kExistingSql));
  conn.prepare(kGetMany, absl::StrCat(select, from_documents, kAnyId));
  conn.prepare(kGetManyWithBody, absl::StrCat(select, ", body", from_documents, kAnyId));
  conn.prepare(kUpdateStatus, absl::StrCat(kUpdateStatusSql, kColumns, kWriteMarks));
  // kUpdateStatusSql with one more SET: "UPDATE documents SET " replaced by kKeepTasks.
  const std::string update_keeping_tasks =
      absl::StrCat(kKeepTasks, std::string(kUpdateStatusSql).substr(std::strlen("UPDATE documents SET")));
  conn.prepare(kUpdateStatusWithTasks, absl::StrCat("WITH upd AS (", update_keeping_tasks, "*),", kTasksOfMoved,
                                                    " SELECT ", kColumns, kWriteMarks, " FROM upd"));
  conn.prepare(kStatusOf, kStatusOfSql);
  conn.prepare(kRenewLease, absl::StrCat(kRenewLeaseSql, kColumns));
  PrepareRedeliveryStatements(conn);
  conn.prepare(kWalPosition, kWalPositionSql);
  conn.prepare(kVisibleDocuments, absl::StrCat(select, ", body", from_documents, kAnyId));
  conn.prepare(kReplayed, kReplayedSql);
  conn.prepare(kTransactionStatus, kTransactionStatusSql);
  conn.prepare(kCreatedSince, kCreatedSinceSql);
  conn.prepare(kListFirst, absl::StrCat(select, from_documents, order, "1"));
  conn.prepare(kListAfter, absl::StrCat(select, from_documents, " WHERE ", kAfterCursor, order, "3"));
  conn.prepare(kListStatusFirst, absl::StrCat(select, from_documents, " WHERE status = $2", order, "1"));
  conn.prepare(kListStatusAfter,
               absl::StrCat(select, from_documents, " WHERE status = $4 AND ", kAfterCursor, order, "3"));
}

absl::StatusOr<CreateResult> PgDocumentStore::Create(const NewDocument& doc, const db::QueryContext& ctx) {
  return db::WithConnection<CreateResult>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<CreateResult> {
        pqxx::nontransaction tx(conn);
        const pqxx::binarystring body(doc.body.data(), doc.body.size());
        const std::string attributes = EncodeAttributes(doc.attributes);
        // Two tries: the row found missing after a conflict can only be a concurrent
        // insert that rolled back, so insert again.
        for (int attempt = 0; attempt < 2; ++attempt) {
          pqxx::result inserted =
              tx.exec_prepared(kInsert, doc.id, doc.name, doc.source_uri, doc.content_type, body, attributes);
          if (!inserted.empty()) {
            return CreateResult{FromRow(inserted[0], false), true, CommitPosition(tx, MarkOf(inserted[0]))};
          }
          // ON CONFLICT waited for the other insert to commit, so this statement sees it.
          auto existing = FindExisting(tx, doc, attributes);
          if (absl::IsNotFound(existing.status())) continue;
          if (existing.ok()) existing->commit = CommitPosition(tx);
          return existing;
        }
        return CreatedAndRemoved();
      });
}

absl::StatusOr<std::vector<absl::StatusOr<CreateResult>>> PgDocumentStore::CreateMany(
    const std::vector<NewDocument>& docs, const db::QueryContext& ctx) {
  std::vector<std::string> attributes, requeue;
  std::vector<std::string_view> ids, names, sources, types, bodies;
  TaskArrays tasks;
  std::unordered_set<std::string_view> seen;  // a second copy of an id cannot be created: no tasks
  for (const NewDocument& doc : docs) {
    if (seen.insert(doc.id).second) {
      for (const Task& t : doc.tasks) tasks.Add(t, doc.id);
    }
    requeue.push_back(RequeueTasksJson(doc.tasks));
    ids.push_back(doc.id);
    names.push_back(doc.name);
    sources.push_back(doc.source_uri);
    types.push_back(doc.content_type);
    bodies.push_back(doc.body);
    attributes.push_back(EncodeAttributes(doc.attributes));
  }
  const std::string id_array = ArrayLiteral(ids), name_array = ArrayLiteral(names),
                    source_array = ArrayLiteral(sources), type_array = ArrayLiteral(types),
                    body_array = ByteaArrayBinary(bodies), attribute_array = ArrayLiteral(attributes);
  using Results = std::vector<absl::StatusOr<CreateResult>>;
  return db::WithConnection<Results>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<Results> {
        pqxx::nontransaction tx(conn);
        const pqxx::binarystring body_param(body_array.data(), body_array.size());
        const pqxx::result inserted =
            tasks.ids.empty()
                ? tx.exec_prepared(kInsertMany, id_array, name_array, source_array, type_array, body_param,
                                   attribute_array)
                : tx.exec_prepared(kInsertManyWithTasks, id_array, name_array, source_array, type_array, body_param,
                                   attribute_array, ArrayLiteral(tasks.ids), ArrayLiteral(tasks.document_ids),
                                   ArrayLiteral(tasks.names), ArrayLiteral(tasks.queues), ArrayLiteral(tasks.args),
                                   ArrayLiteral(tasks.kwargs), ArrayLiteral(tasks.countdowns), ArrayLiteral(requeue));
        // id -> create_time_us and write marks of the rows inserted
        std::unordered_map<std::string, std::pair<int64_t, WritePosition>> created_at;
        for (pqxx::result::size_type i = 0; i < inserted.size(); ++i) {
          created_at.emplace(inserted[i][0].as<std::string>(),
                             std::pair{inserted[i][1].as<int64_t>(), MarkOf(inserted[i])});
        }
        // A document not inserted existed already (or came earlier in this batch): as
        // in Create, the same content is success, other content ALREADY_EXISTS.
        Results results;
        for (size_t i = 0; i < docs.size(); ++i) {
          const NewDocument& doc = docs[i];
          if (auto it = created_at.find(doc.id); it != created_at.end()) {
            results.push_back(CreateResult{NewRow(doc, it->second.first), true, it->second.second});
            created_at.erase(it);  // a second copy of the id in this batch finds the first's row below
            continue;
          }
          auto existing = FindExisting(tx, doc, attributes[i]);
          results.push_back(absl::IsNotFound(existing.status()) ? CreatedAndRemoved() : std::move(existing));
        }
        const WritePosition now = CommitPosition(tx);  // after every commit above: one position serves them all
        for (auto& r : results) {
          if (!r.ok()) continue;
          r->commit.lsn = now.lsn;
          r->commit.timeline = now.timeline;
        }
        return results;
      });
}

absl::StatusOr<std::vector<Document>> PgDocumentStore::GetMany(const std::vector<std::string>& ids, bool include_body,
                                                               const db::QueryContext& ctx) {
  const std::string array = ArrayLiteral(ids);
  return db::WithConnection<std::vector<Document>>(
      pool_, ctx, db::Retry::kReadOnce, [&](pqxx::connection& conn) -> absl::StatusOr<std::vector<Document>> {
        pqxx::nontransaction tx(conn);
        const pqxx::result r = tx.exec_prepared(include_body ? kGetManyWithBody : kGetMany, array);
        std::vector<Document> docs;
        docs.reserve(r.size());
        for (pqxx::result::size_type i = 0; i < r.size(); ++i) docs.push_back(FromRow(r[i], include_body));
        return docs;
      });
}

absl::StatusOr<UpdateResult> PgDocumentStore::UpdateStatus(const StatusUpdate& update, const db::QueryContext& ctx) {
  return db::WithConnection<UpdateResult>(
      pool_, ctx, db::Retry::kNever, [&](pqxx::connection& conn) -> absl::StatusOr<UpdateResult> {
        pqxx::nontransaction tx(conn);
        const std::string sources = ArrayLiteral(AllowedSources(update.status));
        const int to = static_cast<int>(update.status);
        TaskArrays tasks;
        for (const Task& t : update.tasks) tasks.Add(t, "");
        // The update states its own conditions; only when it matches nothing do we
        // read the row to say why. A concurrent change between the two reads can make
        // the move possible after all, hence the loop (bounded: versions only grow).
        for (int attempt = 0; attempt < 3; ++attempt) {
          pqxx::result r =
              tasks.ids.empty()
                  ? tx.exec_prepared(kUpdateStatus, update.id, to, update.status_detail, sources,
                                     update.expected_version, update.lease_ms, update.lease_holder, update.max_attempts)
                  : tx.exec_prepared(kUpdateStatusWithTasks, update.id, to, update.status_detail, sources,
                                     update.expected_version, update.lease_ms, update.lease_holder, update.max_attempts,
                                     ArrayLiteral(tasks.ids), ArrayLiteral(tasks.names), ArrayLiteral(tasks.queues),
                                     ArrayLiteral(tasks.args), ArrayLiteral(tasks.kwargs),
                                     ArrayLiteral(tasks.countdowns), RequeueTasksJson(update.tasks));
          if (!r.empty()) return UpdateResult{FromRow(r[0], false), CommitPosition(tx, MarkOf(r[0]))};
          if (auto why = WhyNotMoved(tx, update); !why.ok()) return why;
        }
        return absl::AbortedError("the document kept changing; retry");
      });
}

absl::StatusOr<Document> PgDocumentStore::RenewLease(const std::string& id, int64_t version, int64_t lease_ms,
                                                     const db::QueryContext& ctx) {
  return db::WithConnection<Document>(pool_, ctx, db::Retry::kNever,
                                      [&](pqxx::connection& conn) -> absl::StatusOr<Document> {
                                        pqxx::nontransaction tx(conn);
                                        for (int attempt = 0; attempt < 3; ++attempt) {
                                          const pqxx::result r = tx.exec_prepared(kRenewLease, id, version, lease_ms);
                                          if (!r.empty()) return FromRow(r[0], false);
                                          if (auto why = WhyNotRenewed(tx, id, version); !why.ok()) return why;
                                        }
                                        return absl::AbortedError("the document kept changing; retry");
                                      });
}

absl::StatusOr<Page> PgDocumentStore::List(DocStatus filter, const std::optional<PageCursor>& after, int limit,
                                           const db::QueryContext& ctx) {
  return db::WithConnection<Page>(
      pool_, ctx, db::Retry::kReadOnce, [&](pqxx::connection& conn) -> absl::StatusOr<Page> {
        pqxx::nontransaction tx(conn);
        // One row more than asked tells whether another page follows.
        const int fetch = limit + 1;
        const int status = static_cast<int>(filter);
        pqxx::result r;
        if (filter == DocStatus::kUnspecified) {
          r = after ? tx.exec_prepared(kListAfter, after->create_time_us, after->id, fetch)
                    : tx.exec_prepared(kListFirst, fetch);
        } else {
          r = after ? tx.exec_prepared(kListStatusAfter, after->create_time_us, after->id, fetch, status)
                    : tx.exec_prepared(kListStatusFirst, fetch, status);
        }
        Page page;
        for (int i = 0; i < static_cast<int>(r.size()) && i < limit; ++i)
          page.documents.push_back(FromRow(r[i], false));
        if (static_cast<int>(r.size()) > limit && !page.documents.empty()) {
          const Document& last = page.documents.back();
          page.next = PageCursor{filter, last.create_time_us, last.id};
        }
        return page;
      });
}

std::vector<Document> PgDocumentStore::VisibleDocuments(pqxx::connection& conn, const std::string& ids) {
  pqxx::nontransaction tx(conn);
  const pqxx::result r = tx.exec_prepared(kVisibleDocuments, ids);
  std::vector<Document> visible;
  visible.reserve(r.size());
  for (pqxx::result::size_type i = 0; i < r.size(); ++i) visible.push_back(FromRow(r[i], /*with_body=*/true));
  return visible;
}

CreatedSince PgDocumentStore::IdsCreatedSince(pqxx::connection& conn, int64_t since_us) {
  pqxx::nontransaction tx(conn);
  const pqxx::row row = tx.exec_prepared1(kCreatedSince, since_us);
  CreatedSince out;
  out.now_us = row[0].as<int64_t>();
  out.ids = SplitIds(row[1].as<std::string>());
  return out;
}

absl::StatusOr<std::optional<bool>> PgDocumentStore::Committed(uint64_t xid, const db::QueryContext& ctx) {
  return db::WithConnection<std::optional<bool>>(
      pool_, ctx, db::Retry::kReadOnce, [xid](pqxx::connection& conn) -> absl::StatusOr<std::optional<bool>> {
        pqxx::nontransaction tx(conn);
        const pqxx::row row = tx.exec_prepared1(kTransactionStatus, std::to_string(xid));
        if (row[0].is_null()) return std::nullopt;
        const std::string status = row[0].as<std::string>();
        if (status == "committed") return true;
        if (status == "aborted") return false;
        return std::nullopt;  // in progress
      });
}

absl::StatusOr<uint64_t> PgDocumentStore::CurrentWalPosition(const db::QueryContext& ctx) {
  return db::WithConnection<uint64_t>(pool_, ctx, db::Retry::kReadOnce,
                                      [](pqxx::connection& conn) -> absl::StatusOr<uint64_t> {
                                        pqxx::nontransaction tx(conn);
                                        return WalPosition(tx);
                                      });
}

ReplayPosition PgDocumentStore::ReplayedWalPosition(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  const pqxx::row row = tx.exec_prepared1(kReplayed);
  ReplayPosition at;
  at.timeline = row[1].is_null() ? 0 : static_cast<uint32_t>(row[1].as<int64_t>());
  // NULL on a standby that has replayed nothing yet.
  if (row[0].is_null()) return at;
  const auto lsn = ParseLsn(row[0].as<std::string>());
  if (!lsn.has_value()) throw std::runtime_error("unexpected WAL position text");
  at.lsn = *lsn;
  return at;
}

}  // namespace docgate::store
