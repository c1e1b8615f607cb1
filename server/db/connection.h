#pragma once

#include <pqxx/connection>

#include <functional>
#include <memory>

#include "absl/status/statusor.h"

namespace docgate::db {

// One open database connection, as the pool and the background checkers see it.
// PgConnection is the real one; unit tests give the pool fakes (tests/fakes) that
// fail, hang or die on cue without PostgreSQL. One user at a time.
class Connection {
 public:
  virtual ~Connection() = default;

  // The libpqxx connection that statements run on. A fake throws: what runs
  // statements is tested against PostgreSQL.
  virtual pqxx::connection& pq() = 0;

  // Its socket, for the watchdog to cut; -1 when there is none.
  virtual int socket() = 0;

  // Whether the server closed or killed it while it sat idle, found without a
  // round trip: an idle connection has nothing to say, so a readable socket means a
  // termination notice or EOF (pg_terminate_backend, restart, idle timeout).
  virtual bool LooksDead() = 0;

  // One round trip (SELECT 1): OK, or why it failed.
  virtual absl::Status Ping() = 0;
};

// Opens one ready-to-use connection (schema checked, statements prepared), or says
// why not (UNAVAILABLE when the database cannot be reached). The pool's connection
// factory; called from one thread at a time per pool.
using ConnectionOpener = std::function<absl::StatusOr<std::unique_ptr<Connection>>()>;

// A Connection over a libpqxx connection.
class PgConnection final : public Connection {
 public:
  explicit PgConnection(std::unique_ptr<pqxx::connection> conn) : conn_(std::move(conn)) {}

  pqxx::connection& pq() override { return *conn_; }
  int socket() override { return conn_->sock(); }
  bool LooksDead() override;
  absl::Status Ping() override;

 private:
  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace docgate::db
