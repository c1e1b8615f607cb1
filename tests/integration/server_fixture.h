#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <pqxx/transaction>

#include <grpcpp/grpcpp.h>

#include "docgate/v1/docgate.grpc.pb.h"
#include "server/config.h"
#include "server/docgate_server.h"
#include "tests/integration/test_database.h"

namespace docgate::testing {

// A row lock held by another session until Release() or destruction, so that
// docgate's statements on that row block.
class HeldRowLock {
 public:
  HeldRowLock(TestDatabase& db, const std::string& id);
  void Release();

 private:
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::work> tx_;
};

// An in-process docgate on 127.0.0.1:0 over a fresh database, and a real stub.
// After every test it checks that no docgate connection is idle in transaction.
class ServerFixture : public ::testing::Test {
 protected:
  // Override to change the server's configuration before it starts.
  virtual void Configure(Config& /*config*/) {}

  void SetUp() override;
  void TearDown() override;

  // A client context whose deadline is `timeout` from now.
  static std::unique_ptr<grpc::ClientContext> Context(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Creates a document named `name` (fresh id unless given), asserting success.
  v1::Document CreateOk(const std::string& name, const std::string& id = "");

  // Starts `n` UpdateDocumentStatus calls on `id` (to PROCESSING), each on its own
  // thread, with `timeout` deadlines: behind a HeldRowLock they hold n connections.
  std::vector<std::thread> StartUpdates(const std::string& id, int n, std::chrono::milliseconds timeout);

  // Polls `condition` until it holds (true) or `timeout` passes (false).
  static bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

  // Waits until health for `service` reports `serving`, or until `timeout`.
  bool WaitForHealth(bool serving, std::chrono::milliseconds timeout);

  Config config_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<DocgateServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::DocumentService::Stub> stub_;
};

}  // namespace docgate::testing
