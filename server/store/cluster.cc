#include "server/store/cluster.h"

#include <pqxx/connection>
#include <pqxx/nontransaction>

#include "server/store/consistency_token.h"
#include "spdlog/spdlog.h"

namespace docgate::store {

void Cluster::Learn(pqxx::connection& conn) {
  uint64_t id = 0;
  try {
    pqxx::nontransaction tx(conn);
    id = static_cast<uint64_t>(tx.exec1("SELECT system_identifier FROM pg_control_system()")[0].as<int64_t>());
  } catch (const pqxx::sql_error& e) {
    // Only a role that may not call it (42501), or a server without it (42883), is
    // lasting; anything else fails this connection's set-up, to be tried again.
    if (e.sqlstate() != "42501" && e.sqlstate() != "42883") throw;
    static std::atomic<bool> said{false};
    if (!said.exchange(true)) {
      spdlog::warn(
          "cannot read the database's system identifier (pg_control_system): consistency tokens "
          "are not bound to this cluster; their positions are still checked");
    }
  }
  if (known_.load() && system_identifier_.load() != id) {
    spdlog::warn("the database cluster behind the primary changed: tokens it issued before are refused now");
  }
  SetSystemIdentifier(id);
}

void Cluster::SetSystemIdentifier(uint64_t id) {
  // Another cluster: the positions seen were the old one's, and bound nothing now.
  if (known_.load() && system_identifier_.load() != id) reached_.store(0);
  system_identifier_.store(id);
  known_.store(true);
}

std::optional<uint64_t> Cluster::system_identifier() const {
  if (!known_.load()) return std::nullopt;
  return system_identifier_.load();
}

absl::StatusOr<uint64_t> Cluster::TokenPosition(const std::string& token) const {
  const auto id = system_identifier();
  if (!id.has_value()) {
    return absl::UnavailableError("the database has not been reached yet: the consistency token cannot be checked");
  }
  return DecodeConsistencyToken(token, *id);
}

void Cluster::Reached(uint64_t lsn) {
  uint64_t seen = reached_.load(std::memory_order_relaxed);
  while (lsn > seen && !reached_.compare_exchange_weak(seen, lsn, std::memory_order_relaxed)) {
  }
}

}  // namespace docgate::store
