#include "server/db/migrations.h"

#include <pqxx/connection>
#include <pqxx/transaction>

#include "server/db/sql_errors.h"
#include "spdlog/spdlog.h"

namespace docgate::db {
namespace {

// "docgate" as a 64-bit advisory-lock key, shared by every instance.
constexpr int64_t kMigrationLockKey = 0x646f6367617465;

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Append only: a released migration is never edited.
constexpr Migration kMigrations[] = {
    {1, "documents",
     R"sql(
CREATE TABLE documents (
  id            uuid        PRIMARY KEY,
  name          text        NOT NULL,
  source_uri    text        NOT NULL DEFAULT '',
  content_type  text        NOT NULL DEFAULT '',
  body          bytea       NOT NULL DEFAULT '',
  attributes    jsonb       NOT NULL DEFAULT '{}',
  status        smallint    NOT NULL,
  status_detail text        NOT NULL DEFAULT '',
  version       bigint      NOT NULL,
  create_time   timestamptz NOT NULL,
  update_time   timestamptz NOT NULL
);
CREATE INDEX documents_by_create_time ON documents (create_time, id);
CREATE INDEX documents_by_status_create_time ON documents (status, create_time, id);
)sql"},
    // A producer that writes plain SQL (the pattern WaitVisible exists for) need
    // not know docgate's bookkeeping: INSERT (id, name) is a PENDING document.
    // Catalog-only: no table rewrite.
    {2, "documents_defaults",
     R"sql(
ALTER TABLE documents
  ALTER COLUMN status SET DEFAULT 1,
  ALTER COLUMN version SET DEFAULT 1,
  ALTER COLUMN create_time SET DEFAULT now(),
  ALTER COLUMN update_time SET DEFAULT now();
)sql"},
    // Celery tasks written with a write, in its transaction, and delivered to the
    // broker after its commit; a row is deleted once the broker has it.
    {3, "outbox",
     R"sql(
CREATE TABLE docgate_outbox (
  task_id         uuid        PRIMARY KEY,
  document_id     uuid        NOT NULL,
  task            text        NOT NULL,
  queue           text        NOT NULL,
  args            jsonb       NOT NULL,
  kwargs          jsonb       NOT NULL,
  countdown_s     integer     NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  attempts        integer     NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX docgate_outbox_due ON docgate_outbox (next_attempt_at);
)sql"},
    // Leases (#22): who holds a PROCESSING document and until when; and, per
    // document, the tasks of the last write that made it PENDING with tasks, which a
    // lease that runs out enqueues again. The columns are catalog-only; the partial
    // index holds only leased documents (IF NOT EXISTS: an operator may have built it
    // CONCURRENTLY first, as the README's note on `docgate migrate` says).
    {4, "leases",
     R"sql(
ALTER TABLE documents ADD COLUMN IF NOT EXISTS lease_holder text,
  ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;
CREATE INDEX IF NOT EXISTS documents_lease_expiry ON documents (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
CREATE TABLE docgate_requeue (
  document_id uuid  PRIMARY KEY,
  tasks       jsonb NOT NULL
);
)sql"},
    // The outbox at the cost of one row per task (#30): docgate_tasks is written once
    // per task and never updated or deleted; delivery is a position in commit order
    // (docgate_task_relay.delivered, a snapshot: its transactions' tasks are
    // delivered). Two partitions used in turn, each truncated once it holds only
    // delivered tasks: no dead rows, no VACUUM (autovacuum off for them). The tasks
    // waiting in docgate_outbox move here, in this transaction, with their ids; the
    // position starts at this transaction, which it does not see, so they are
    // delivered. docgate_outbox stays for instances of an earlier version during a
    // rolling upgrade, and is drained by this one. A lease that runs out re-enqueues
    // the tasks now kept on the document row (requeue_tasks, catalog-only; JSON as
    // text, like the tasks' arguments: parsed only when used), or those
    // an earlier version recorded in docgate_requeue.
    {5, "outbox_in_commit_order",
     R"sql(
CREATE TABLE docgate_tasks (
  slot        smallint    NOT NULL,
  tx          xid8        NOT NULL DEFAULT pg_current_xact_id(),
  task_id     uuid        NOT NULL,
  document_id uuid        NOT NULL,
  task        text        NOT NULL,
  queue       text        NOT NULL,
  args        text        NOT NULL,  -- JSON, as validated and sent: never parsed here
  kwargs      text        NOT NULL,
  countdown_s integer     NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now()
) PARTITION BY LIST (slot);
CREATE TABLE docgate_tasks_0 PARTITION OF docgate_tasks FOR VALUES IN (0) WITH (autovacuum_enabled = false);
CREATE TABLE docgate_tasks_1 PARTITION OF docgate_tasks FOR VALUES IN (1) WITH (autovacuum_enabled = false);
CREATE INDEX docgate_tasks_in_commit_order ON docgate_tasks (tx, task_id);
CREATE TABLE docgate_task_relay (
  one         boolean     PRIMARY KEY DEFAULT true CHECK (one),
  slot        smallint    NOT NULL DEFAULT 0 CHECK (slot IN (0, 1)),
  rotated_at  timestamptz NOT NULL DEFAULT now(),
  delivered   pg_snapshot NOT NULL,
  batch_end   pg_snapshot,
  after_tx    xid8,
  after_task  uuid,
  delivered_0 bigint      NOT NULL DEFAULT 0,
  delivered_1 bigint      NOT NULL DEFAULT 0
);
INSERT INTO docgate_task_relay (delivered)
  SELECT (x::text || ':' || x::text || ':')::pg_snapshot FROM pg_current_xact_id() AS x;
INSERT INTO docgate_tasks (slot, task_id, document_id, task, queue, args, kwargs, countdown_s, created_at)
  SELECT 0, task_id, document_id, task, queue, args::text, kwargs::text, countdown_s, created_at FROM docgate_outbox;
DELETE FROM docgate_outbox;
ALTER TABLE documents ADD COLUMN IF NOT EXISTS requeue_tasks text;  -- a JSON array, parsed only when re-enqueued
-- For operators (and tests): the tasks not yet delivered, by a scan.
CREATE VIEW docgate_waiting_tasks AS
  SELECT t.task_id, t.document_id, t.task, t.queue, t.args, t.kwargs, t.countdown_s, t.created_at
  FROM docgate_tasks t, docgate_task_relay r
  WHERE NOT pg_visible_in_snapshot(t.tx, r.delivered)
    AND NOT (r.batch_end IS NOT NULL AND pg_visible_in_snapshot(t.tx, r.batch_end)
             AND (t.tx, t.task_id) <= (r.after_tx, r.after_task));
)sql"},
    // Poison documents (#32): how many times a lease on the document ran out
    // (attempts), the bound a worker set for it at its move to PROCESSING (NULL: the
    // server's --lease-max-attempts), who held the lease that ran out last, and when
    // the tasks re-enqueued by that expiry are due (their Celery ETA). Catalog-only:
    // a constant default rewrites no table.
    {6, "poison_documents",
     R"sql(
ALTER TABLE documents ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS max_attempts integer,
  ADD COLUMN IF NOT EXISTS last_lease_holder text,
  ADD COLUMN IF NOT EXISTS redeliver_at timestamptz;
)sql"},
};

}  // namespace

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

absl::Status Migrate(pqxx::connection& conn) {
  try {
    pqxx::work tx(conn, "migrate");
    tx.exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockKey) + ")");
    tx.exec(
        "CREATE TABLE IF NOT EXISTS docgate_schema_migrations ("
        " version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
    const int current = tx.exec1("SELECT coalesce(max(version), 0) FROM docgate_schema_migrations")[0].as<int>();
    if (current > LatestSchemaVersion()) {
      return absl::FailedPreconditionError("the database schema is newer than this docgate build");
    }
    for (const auto& m : kMigrations) {
      if (m.version <= current) continue;
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO docgate_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name);
      spdlog::info("schema migration applied version={} name={}", m.version, m.name);
    }
    tx.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

}  // namespace docgate::db
