#pragma once

#include <pqxx/connection>

#include "absl/status/status.h"

namespace docgate::db {

// Brings the schema to the newest version. Every step runs in one transaction
// under a transaction-scoped advisory lock, so instances starting together apply
// each migration exactly once. Returns the status of the first failure.
absl::Status Migrate(pqxx::connection& conn);

// The newest schema version this build knows.
int LatestSchemaVersion();

}  // namespace docgate::db
