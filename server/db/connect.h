#pragma once

#include <functional>

#include "server/db/connection.h"
#include "server/db/connection_settings.h"

namespace docgate::db {

// Runs on every new connection before the pool hands it out (prepares statements).
using ConnectionSetup = std::function<void(pqxx::connection&)>;

// An opener for Pool: connects with `settings`, turns off libpqxx's silent
// reconnection (a broken connection must be seen and discarded, not revived with
// lost session state), applies migrations once per process when `migrate` is set,
// then runs `setup`. A failure is UNAVAILABLE (or the migration's own status).
ConnectionOpener MakeOpener(ConnectionSettings settings, bool migrate, ConnectionSetup setup);

// Opens one connection outside any pool, for `docgate migrate` and tools.
absl::StatusOr<std::unique_ptr<pqxx::connection>> Connect(const ConnectionSettings& settings);

}  // namespace docgate::db
