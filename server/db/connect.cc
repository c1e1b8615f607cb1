#include "server/db/connect.h"

#include <pqxx/connection>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "server/db/migrations.h"
#include "server/db/sql_errors.h"

namespace docgate::db {

absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const ConnectionSettings& settings) {
  auto conninfo = settings.ConnInfo();
  if (!conninfo.ok()) return conninfo.status();
  try {
    auto conn = std::make_unique<pqxx::connection>(*conninfo);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    conn->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    return conn;
  } catch (const pqxx::broken_connection& e) {
    // libpq's reason names host and port, never the password.
    std::string reason = e.what();
    while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
    return absl::UnavailableError(absl::StrCat("cannot connect to the database: ", reason));
  } catch (const std::exception& e) {
    return StatusFromException(e);
  }
}

ConnectionOpener MakeOpener(ConnectionSettings settings, bool migrate, ConnectionSetup setup) {
  auto migrated = std::make_shared<std::atomic<bool>>(!migrate);
  return [settings = std::move(settings), migrated,
          setup = std::move(setup)]() -> absl::StatusOr<std::unique_ptr<Connection>> {
    auto conn = Connect(settings);
    if (!conn.ok()) return conn.status();
    if (!migrated->load()) {
      if (auto s = Migrate(**conn); !s.ok()) return s;
      migrated->store(true);
    }
    try {
      if (setup) setup(**conn);
    } catch (const std::exception& e) {
      return StatusFromException(e);
    }
    return std::make_unique<PgConnection>(std::move(*conn));
  };
}

}  // namespace docgate::db
