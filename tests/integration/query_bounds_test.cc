// Deadlines and cancellation reach the database; lost connections heal; old ones recycle.
#include <gtest/gtest.h>
#include <pqxx/nontransaction>
#include <pqxx/transaction>

#include <atomic>
#include <thread>

#include "server/store/uuid.h"
#include "tests/integration/server_fixture.h"

namespace docgate::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

class QueryBoundsTest : public ServerFixture {
 protected:
  void Configure(Config& config) override { config.pool_max = 4; }

  // docgate's queries still running on the server, other than idle ones.
  int RunningQueries() {
    pqxx::nontransaction tx(db_->admin());
    return tx
        .exec1(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'docgate' AND state = 'active'")[0]
        .as<int>();
  }

  grpc::Status UpdateBehindLock(const std::string& id, grpc::ClientContext* ctx) {
    v1::UpdateDocumentStatusRequest req;
    req.set_id(id);
    req.set_status(v1::PROCESSING);
    v1::UpdateDocumentStatusResponse resp;
    return stub_->UpdateDocumentStatus(ctx, req, &resp);
  }
};

TEST_F(QueryBoundsTest, DeadlineCancelsAStatementStuckBehindALock) {
  const v1::Document d = CreateOk("locked");
  HeldRowLock lock(*db_, d.id());

  const auto started = SteadyClock::now();
  const grpc::Status s = UpdateBehindLock(d.id(), Context(milliseconds(200)).get());
  const auto took = SteadyClock::now() - started;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(took, milliseconds(300));
  EXPECT_TRUE(WaitUntil([&] { return RunningQueries() == 0; }, seconds(1)))
      << "docgate's query still runs on the server after the deadline";
  lock.Release();
  // The document was not changed, and the pool serves on.
  v1::GetDocumentRequest get;
  get.set_id(d.id());
  v1::GetDocumentResponse got;
  ASSERT_TRUE(stub_->GetDocument(Context().get(), get, &got).ok());
  EXPECT_EQ(got.document().status(), v1::PENDING);
}

TEST_F(QueryBoundsTest, ClientCancelCancelsTheRunningQuery) {
  const v1::Document d = CreateOk("locked");
  HeldRowLock lock(*db_, d.id());

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + seconds(30));
  grpc::Status status;
  std::thread caller([&] { status = UpdateBehindLock(d.id(), &ctx); });
  ASSERT_TRUE(WaitUntil([&] { return RunningQueries() == 1; }, seconds(5)));
  ctx.TryCancel();
  caller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitUntil([&] { return RunningQueries() == 0; }, seconds(2)))
      << "the cancelled RPC's query still runs on the server";
  lock.Release();
}

// What PostgreSQL says of a conflict reaches the client as SPEC says, through the
// exception types libpqxx really throws (its transaction_rollback is no sql_error): a
// deadlock is run again, and one that lasts is ABORTED, never INTERNAL.
TEST_F(QueryBoundsTest, ConflictsAreRunAgainAndALastingOneIsAborted) {
  const v1::Document d = CreateOk("conflicted");
  const v1::Document other = CreateOk("conflicted again");
  {
    pqxx::nontransaction tx(db_->admin());
    // The sequence counts attempts (nextval survives a rollback); conflict_upto says
    // how many deadlock.
    tx.exec(
        "CREATE SEQUENCE conflict_attempts; CREATE TABLE conflict_upto (n int); INSERT INTO conflict_upto VALUES (1);"
        " GRANT ALL ON conflict_attempts, conflict_upto TO docgate;"
        " CREATE FUNCTION conflict() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
        "   IF nextval('conflict_attempts') <= (SELECT n FROM conflict_upto) THEN"
        "     RAISE EXCEPTION USING ERRCODE = 'deadlock_detected'; END IF;"
        "   RETURN NEW; END$$;"
        " CREATE TRIGGER conflict BEFORE UPDATE ON documents FOR EACH ROW EXECUTE FUNCTION conflict()");
  }
  // One deadlock, then the move goes through: the caller never sees it.
  grpc::ClientContext first;
  first.set_deadline(std::chrono::system_clock::now() + seconds(10));
  EXPECT_TRUE(UpdateBehindLock(d.id(), &first).ok());
  {
    pqxx::nontransaction tx(db_->admin());
    EXPECT_EQ(tx.exec1("SELECT last_value FROM conflict_attempts")[0].as<int>(), 2)
        << "the deadlocked move was not run again";
    tx.exec("UPDATE conflict_upto SET n = 1000000");
  }
  // Deadlocks every time: ABORTED, once the retries are spent.
  grpc::ClientContext lasting;
  lasting.set_deadline(std::chrono::system_clock::now() + seconds(10));
  const grpc::Status s = UpdateBehindLock(other.id(), &lasting);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
}

TEST_F(QueryBoundsTest, TerminatedBackendsAreReplacedWithoutFailedReads) {
  const v1::Document d = CreateOk("survivor");
  // Open every pooled connection, then kill them all.
  std::vector<std::thread> warm;
  for (int i = 0; i < 8; ++i) {
    warm.emplace_back([&] {
      v1::GetDocumentRequest get;
      get.set_id(d.id());
      v1::GetDocumentResponse got;
      stub_->GetDocument(Context().get(), get, &got);
    });
  }
  for (auto& t : warm) t.join();
  {
    pqxx::nontransaction tx(db_->admin());
    tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'docgate'");
  }
  const auto started = SteadyClock::now();
  std::atomic<int> ok{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 2 * config_.pool_max; ++i) {
    readers.emplace_back([&] {
      v1::GetDocumentRequest get;
      get.set_id(d.id());
      v1::GetDocumentResponse got;
      if (stub_->GetDocument(Context(seconds(5)).get(), get, &got).ok()) ++ok;
    });
  }
  for (auto& t : readers) t.join();
  EXPECT_EQ(ok, 2 * config_.pool_max);
  EXPECT_LT(SteadyClock::now() - started, seconds(5));
}

class MaxLifetimeTest : public QueryBoundsTest {
 protected:
  void Configure(Config& config) override {
    config.pool_max = 4;
    config.pool_max_lifetime = seconds(1);
  }
};

TEST_F(MaxLifetimeTest, ConnectionsAreRecycledUnderLoadWithoutFailures) {
  const v1::Document d = CreateOk("busy");
  const uint64_t opened_before = server_->pool_stats().opened_total;
  std::atomic<bool> running{true};
  std::atomic<int> failures{0}, calls{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      while (running) {
        v1::GetDocumentRequest get;
        get.set_id(d.id());
        v1::GetDocumentResponse got;
        if (!stub_->GetDocument(Context().get(), get, &got).ok()) ++failures;
        ++calls;
      }
    });
  }
  // Runs until the pool has replaced every connection at least once (or gives up).
  const bool recycled = WaitUntil([&] { return server_->pool_stats().opened_total >= opened_before + 4; }, seconds(10));
  running = false;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(recycled);
  EXPECT_GT(server_->pool_stats().closed_total[static_cast<int>(db::CloseReason::kExpired)], 0u);
  EXPECT_GT(calls, 100);
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace docgate::testing

namespace docgate::testing {
namespace {

class IdleTimeoutTest : public QueryBoundsTest {
 protected:
  void Configure(Config& config) override {
    config.pool_max = 4;
    config.pool_min_idle = 1;
    config.pool_idle_timeout = milliseconds(300);
  }
};

TEST_F(IdleTimeoutTest, IdleConnectionsBeyondMinIdleAreClosed) {
  const v1::Document d = CreateOk("idle");
  // Four concurrent updates behind a lock open all four connections.
  HeldRowLock lock(*db_, d.id());
  std::vector<std::thread> blocked = StartUpdates(d.id(), 4, seconds(10));
  EXPECT_TRUE(WaitUntil([&] { return db_->DocgateConnections() == 4; }, seconds(5)));
  lock.Release();
  for (auto& t : blocked) t.join();
  EXPECT_TRUE(WaitUntil([&] { return db_->DocgateConnections() == 1; }, seconds(5)))
      << "idle connections beyond min_idle stayed open";
  EXPECT_GE(server_->pool_stats().closed_total[static_cast<int>(db::CloseReason::kIdle)], 3u);
}

}  // namespace
}  // namespace docgate::testing
