// docgate::Client against a real docgate (in process) and PostgreSQL.
#include <gtest/gtest.h>

#include <thread>

#include "docgate/client.h"
#include "tests/integration/server_fixture.h"

namespace docgate::testing {
namespace {

class ClientTest : public ServerFixture {
 protected:
  ClientOptions Options() {
    ClientOptions options;
    options.timeout = std::chrono::seconds(10);
    return options;
  }
  std::string Target() const { return "127.0.0.1:" + std::to_string(server_->port()); }
};

TEST_F(ClientTest, EveryMethodWorksAndReturnsTheServersAnswer) {
  Client client(Target(), Options());
  v1::Document doc;
  doc.set_name("c++.txt");
  doc.set_body("hello");
  (*doc.mutable_attributes())["k"] = "v";
  auto created = client.CreateDocument(doc);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_TRUE(created->created);
  EXPECT_FALSE(created->consistency_token.empty());
  const std::string id = created->document.id();
  EXPECT_EQ(id[14], '7') << "the client chose a UUIDv7";

  auto got = client.GetDocument(id, /*include_body=*/true);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->body(), "hello");
  EXPECT_EQ(got->attributes().at("k"), "v");

  auto visible = client.WaitVisible(id);
  ASSERT_TRUE(visible.ok()) << visible.status();
  EXPECT_EQ(visible->status(), v1::PENDING);

  auto moved = client.UpdateStatus(id, v1::PROCESSING, "working", /*expected_version=*/1);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->document.version(), 2);

  auto stale = client.UpdateStatus(id, v1::COMPLETED, "", /*expected_version=*/1);
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kAborted);
  auto missing = client.GetDocument(NewDocumentId());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto repeat = client.CreateDocument(created->document);
  EXPECT_EQ(repeat.status().code(), absl::StatusCode::kAlreadyExists) << "same id, different content (no body)";

  for (int i = 0; i < 5; ++i) CreateOk("listed-" + std::to_string(i));
  int seen = 0;
  ASSERT_TRUE(client
                  .ListAll(
                      v1::PENDING, [&](const v1::Document&) { return ++seen < 1000; }, 2)
                  .ok());
  EXPECT_EQ(seen, 5) << "every PENDING document, across three pages of two";
}

TEST_F(ClientTest, DeadlinesBoundEveryCall) {
  ClientOptions options = Options();
  options.wait_timeout = std::chrono::milliseconds(300);
  Client client(Target(), options);
  const auto started = std::chrono::steady_clock::now();
  auto never = client.WaitVisible(NewDocumentId());
  EXPECT_EQ(never.status().code(), absl::StatusCode::kDeadlineExceeded);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST_F(ClientTest, ReadsAndCreatesRetryAcrossADocgateRestart) {
  Client client(Target(), Options());
  const v1::Document before = CreateOk("before the restart");
  const int port = server_->port();
  server_->Shutdown(std::chrono::milliseconds(0));
  server_.reset();
  // docgate comes back on the same port a moment after the calls below have begun.
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the outage being modelled
    config_.listen = "127.0.0.1:" + std::to_string(port);
    auto server = DocgateServer::Start(config_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  });
  auto got = client.GetDocument(before.id());
  restart.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->name(), "before the restart");
  v1::Document doc;
  doc.set_name("after the restart");
  auto created = client.CreateDocument(doc);
  ASSERT_TRUE(created.ok()) << created.status();
}

}  // namespace
}  // namespace docgate::testing
