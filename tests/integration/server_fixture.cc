#include "tests/integration/server_fixture.h"

#include <cstdlib>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"

namespace docgate::testing {

void ServerFixture::SetUp() {
  if (!HarnessAvailable()) {
    if (std::getenv("CI") != nullptr) FAIL() << "CI=true but the PostgreSQL harness is missing: run scripts/dev test";
    GTEST_SKIP() << "no test PostgreSQL (run through scripts/dev test)";
  }
  db_ = TestDatabase::Create();
  config_.listen = "127.0.0.1:0";
  config_.metrics_listen = "";  // the process tests cover /metrics
  config_.database_url = db_->url();
  config_.pool_max = 8;
  Configure(config_);
  auto server = DocgateServer::Start(config_);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  args.SetMaxSendMessageSize(64 * 1024 * 1024);
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials(), args);
  stub_ = v1::DocumentService::NewStub(channel_);
  // SERVING means connected and migrated: tests may read the schema directly.
  ASSERT_TRUE(WaitForHealth(true, std::chrono::seconds(30))) << "docgate did not become SERVING";
}

void ServerFixture::TearDown() {
  if (db_ != nullptr) {
    EXPECT_EQ(db_->DocgateConnections("idle in transaction"), 0) << "a docgate connection is idle in transaction";
    // The pool, plus the visibility watcher's dedicated connection.
    EXPECT_LE(db_->DocgateConnections(), config_.pool_max + 1);
  }
  stub_.reset();
  channel_.reset();
  server_.reset();
  db_.reset();
}

std::unique_ptr<grpc::ClientContext> ServerFixture::Context(std::chrono::milliseconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

v1::Document ServerFixture::CreateOk(const std::string& name, const std::string& id) {
  v1::CreateDocumentRequest req;
  req.mutable_document()->set_name(name);
  req.mutable_document()->set_id(id);
  v1::CreateDocumentResponse resp;
  const grpc::Status s = stub_->CreateDocument(Context().get(), req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  return resp.document();
}

HeldRowLock::HeldRowLock(TestDatabase& db, const std::string& id)
    : conn_(db.NewAdminConnection()), tx_(std::make_unique<pqxx::work>(*conn_)) {
  tx_->exec("SELECT 1 FROM documents WHERE id = " + tx_->quote(id) + " FOR UPDATE");
}

void HeldRowLock::Release() {
  if (tx_ != nullptr) tx_->abort();
  tx_.reset();
}

std::vector<std::thread> ServerFixture::StartUpdates(const std::string& id, int n, std::chrono::milliseconds timeout) {
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([this, id, timeout] {
      v1::UpdateDocumentStatusRequest req;
      req.set_id(id);
      req.set_status(v1::PROCESSING);
      v1::UpdateDocumentStatusResponse resp;
      stub_->UpdateDocumentStatus(Context(timeout).get(), req, &resp);
    });
  }
  return threads;
}

bool ServerFixture::WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval of a condition wait
  }
  return true;
}

bool ServerFixture::WaitForHealth(bool serving, std::chrono::milliseconds timeout) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  const auto want =
      serving ? grpc::health::v1::HealthCheckResponse::SERVING : grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  return WaitUntil(
      [&] {
        grpc::health::v1::HealthCheckRequest req;
        req.set_service(kServiceName);
        grpc::health::v1::HealthCheckResponse resp;
        return health->Check(Context(std::chrono::seconds(1)).get(), req, &resp).ok() && resp.status() == want;
      },
      timeout);
}

}  // namespace docgate::testing
