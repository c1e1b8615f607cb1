#include "tests/integration/test_database.h"

#include <gtest/gtest.h>
#include <pqxx/nontransaction>

#include <cstdlib>
#include <random>

namespace docgate::testing {
namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

// Replaces the database name of a URI (postgresql://.../name or postgresql:///name?...).
std::string WithDatabase(const std::string& uri, const std::string& db) {
  const size_t query = uri.find('?');
  const std::string base = uri.substr(0, query);
  const std::string rest = query == std::string::npos ? "" : uri.substr(query);
  const size_t slash = base.rfind('/');
  return base.substr(0, slash + 1) + db + rest;
}

}  // namespace

bool HarnessAvailable() {
  if (!Env("DOCGATE_TEST_DATABASE_URL").empty() && !Env("DOCGATE_TEST_ADMIN_URL").empty()) return true;
  return false;
}

std::unique_ptr<TestDatabase> TestDatabase::Create() {
  auto db = std::unique_ptr<TestDatabase>(new TestDatabase());
  std::mt19937_64 rng(std::random_device{}());
  db->name_ = "docgate_test_" + std::to_string(rng() % 1000000000000ULL);
  db->admin_url_ = Env("DOCGATE_TEST_ADMIN_URL");
  {
    pqxx::connection admin(db->admin_url_);
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE DATABASE " + db->name_ + " OWNER docgate");
  }
  db->url_ = WithDatabase(Env("DOCGATE_TEST_DATABASE_URL"), db->name_);
  db->admin_ = db->NewAdminConnection();
  return db;
}

std::unique_ptr<pqxx::connection> TestDatabase::NewAdminConnection() const {
  return std::make_unique<pqxx::connection>(WithDatabase(admin_url_, name_));
}

TestDatabase::~TestDatabase() {
  admin_.reset();
  try {
    pqxx::connection admin(admin_url_);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception& e) {
    ADD_FAILURE() << "cannot drop test database " << name_ << ": " << e.what();
  }
}

int TestDatabase::DocgateConnections(const std::string& state_filter) {
  pqxx::nontransaction tx(*admin_);
  std::string sql =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = " + tx.quote(name_) + " AND application_name = 'docgate'";
  if (!state_filter.empty()) sql += " AND state = " + tx.quote(state_filter);
  return tx.exec1(sql)[0].as<int>();
}

}  // namespace docgate::testing
