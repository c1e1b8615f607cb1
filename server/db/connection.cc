#include "server/db/connection.h"

#include <poll.h>

#include <pqxx/nontransaction>

#include "server/db/sql_errors.h"

namespace docgate::db {

bool PgConnection::LooksDead() {
  if (!conn_->is_open()) return true;
  pollfd p{conn_->sock(), POLLIN, 0};
  return p.fd < 0 || ::poll(&p, 1, 0) != 0;
}

absl::Status PgConnection::Ping() {
  try {
    pqxx::nontransaction tx(*conn_);
    tx.exec("SELECT 1");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

}  // namespace docgate::db
