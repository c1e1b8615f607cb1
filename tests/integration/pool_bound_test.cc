// PostgreSQL never sees more than pool.max connections, whatever the load.
#include <gtest/gtest.h>
#include <pqxx/transaction>

#include <atomic>
#include <thread>

#include "server/store/uuid.h"
#include "tests/integration/server_fixture.h"

namespace docgate::testing {
namespace {

class PoolBoundTest : public ServerFixture {
 protected:
  void Configure(Config& config) override {
    config.pool_max = 4;
    config.acquire_timeout = std::chrono::seconds(30);
  }
};

TEST_F(PoolBoundTest, TwoHundredConcurrentRpcsOnFourConnections) {
  std::atomic<bool> running{true};
  std::atomic<int> most_seen{0};
  std::thread sampler([&] {
    while (running) {
      const int now = db_->DocgateConnections();
      int prev = most_seen.load();
      while (now > prev && !most_seen.compare_exchange_weak(prev, now)) {
      }
    }
  });
  std::atomic<int> ok{0};
  std::vector<std::string> failures;
  std::mutex failures_mu;
  std::vector<std::thread> clients;
  for (int i = 0; i < 200; ++i) {
    clients.emplace_back([&, i] {
      v1::CreateDocumentRequest req;
      req.mutable_document()->set_id(store::NewUuidV7());
      req.mutable_document()->set_name("load " + std::to_string(i));
      req.mutable_document()->set_body(std::string(1024, 'x'));
      v1::CreateDocumentResponse created;
      grpc::Status s = stub_->CreateDocument(Context(std::chrono::seconds(30)).get(), req, &created);
      if (s.ok()) {
        v1::GetDocumentRequest get;
        get.set_id(req.document().id());
        v1::GetDocumentResponse got;
        s = stub_->GetDocument(Context(std::chrono::seconds(30)).get(), get, &got);
      }
      if (s.ok()) {
        ++ok;
      } else {
        std::lock_guard lock(failures_mu);
        failures.push_back(std::to_string(s.error_code()) + " " + s.error_message());
      }
    });
  }
  for (auto& c : clients) c.join();
  running = false;
  sampler.join();
  EXPECT_EQ(ok, 200) << (failures.empty() ? "" : failures.front());
  EXPECT_GE(most_seen, 1);
  EXPECT_LE(most_seen, 4);
}

TEST_F(PoolBoundTest, RpcWhoseDeadlineIsSpentWhileQueuedGetsDeadlineExceeded) {
  // Hold every connection with row locks so that the next request must queue.
  const v1::Document d = CreateOk("locked");
  HeldRowLock lock(*db_, d.id());
  std::vector<std::thread> blocked = StartUpdates(d.id(), 4, std::chrono::seconds(20));
  // Wait until all four connections are busy behind the lock.
  EXPECT_TRUE(WaitUntil([&] { return db_->DocgateConnections("active") == 4; }, std::chrono::seconds(10)));

  v1::GetDocumentRequest get;
  get.set_id(d.id());
  v1::GetDocumentResponse got;
  const auto started = std::chrono::steady_clock::now();
  const grpc::Status s = stub_->GetDocument(Context(std::chrono::milliseconds(300)).get(), get, &got);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  lock.Release();
  for (auto& t : blocked) t.join();
  // The pool is healthy afterwards.
  ASSERT_TRUE(stub_->GetDocument(Context().get(), get, &got).ok());
}

}  // namespace
}  // namespace docgate::testing
