#pragma once

#include <memory>
#include <string>

#include <pqxx/connection>

namespace docgate::testing {

// A fresh database on the test cluster that scripts/dev starts (DOCGATE_TEST_DATABASE_URL,
// DOCGATE_TEST_ADMIN_URL), dropped again on destruction. Each suite gets its own, so
// suites running in parallel never see each other's documents.
class TestDatabase {
 public:
  // Fails the test (never skips) when the harness variables are missing under CI.
  static std::unique_ptr<TestDatabase> Create();
  ~TestDatabase();

  // The database URL for docgate (role docgate, password auth over TCP).
  const std::string& url() const { return url_; }
  // A superuser connection to the same database (pg_stat_activity, terminate, ...).
  pqxx::connection& admin() { return *admin_; }
  // Another superuser connection to this database, for a test that holds locks.
  std::unique_ptr<pqxx::connection> NewAdminConnection() const;
  const std::string& name() const { return name_; }

  // docgate's connections to this database, as pg_stat_activity sees them now.
  int DocgateConnections(const std::string& state_filter = "");

 private:
  std::string name_;
  std::string url_;
  std::string admin_url_;
  std::unique_ptr<pqxx::connection> admin_;
};

// True when the test harness is present; otherwise records why (skip locally, fail in CI).
bool HarnessAvailable();

}  // namespace docgate::testing
