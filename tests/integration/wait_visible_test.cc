// WaitVisible and consistency tokens, through real gRPC against the real PostgreSQL.
#include <gtest/gtest.h>
#include <pqxx/nontransaction>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "server/store/uuid.h"
#include "tests/integration/server_fixture.h"

namespace docgate::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// Counts down finished async calls and keeps their codes.
class Outcomes {
 public:
  void Add(grpc::StatusCode code) {
    std::lock_guard lock(mu_);
    ++count_;
    ++by_code_[code];
    cv_.notify_all();
  }
  bool WaitFor(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }
  int Count(grpc::StatusCode code) {
    std::lock_guard lock(mu_);
    return by_code_[code];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
  std::map<grpc::StatusCode, int> by_code_;
};

// One asynchronous WaitVisible call; owns what the callback API needs alive.
struct AsyncWait {
  grpc::ClientContext context;
  v1::WaitVisibleRequest request;
  v1::WaitVisibleResponse response;
};

class WaitVisibleTest : public ServerFixture {
 protected:
  void Configure(Config& config) override { config.visibility_tick = milliseconds(5); }

  std::unique_ptr<AsyncWait> StartWait(v1::DocumentService::Stub& stub, const std::string& id, Outcomes& outcomes,
                                       milliseconds timeout = seconds(30)) {
    auto call = std::make_unique<AsyncWait>();
    call->context.set_deadline(std::chrono::system_clock::now() + timeout);
    call->request.set_id(id);
    stub.async()->WaitVisible(&call->context, &call->request, &call->response,
                              [&outcomes](grpc::Status s) { outcomes.Add(s.error_code()); });
    return call;
  }

  bool WaitForWaiters(size_t n, milliseconds timeout) {
    return WaitUntil([&] { return server_->waiters() == n; }, timeout);
  }

  v1::CreateDocumentResponse Create(v1::DocumentService::Stub& stub, const std::string& id) {
    v1::CreateDocumentRequest req;
    req.mutable_document()->set_id(id);
    req.mutable_document()->set_name("waited-for");
    v1::CreateDocumentResponse resp;
    EXPECT_TRUE(stub.CreateDocument(Context().get(), req, &resp).ok());
    return resp;
  }
};

TEST_F(WaitVisibleTest, WaiterStartedBeforeTheCreateReturnsTheDocument) {
  const std::string id = store::NewUuidV7();
  Outcomes outcomes;
  auto call = StartWait(*stub_, id, outcomes);
  ASSERT_TRUE(WaitForWaiters(1, seconds(5)));
  Create(*stub_, id);
  ASSERT_TRUE(outcomes.WaitFor(1, seconds(5)));
  EXPECT_EQ(outcomes.Count(grpc::StatusCode::OK), 1);
  EXPECT_EQ(call->response.document().id(), id);
  EXPECT_EQ(call->response.document().name(), "waited-for");
  EXPECT_TRUE(WaitForWaiters(0, seconds(1)));
}

TEST_F(WaitVisibleTest, WaiterStartedAfterTheCreateReturnsAtOnce) {
  const v1::Document d = CreateOk("already there");
  v1::WaitVisibleRequest req;
  req.set_id(d.id());
  req.set_include_body(true);
  v1::WaitVisibleResponse resp;
  const auto started = SteadyClock::now();
  ASSERT_TRUE(stub_->WaitVisible(Context().get(), req, &resp).ok());
  EXPECT_LT(SteadyClock::now() - started, milliseconds(500));
  EXPECT_EQ(resp.document().id(), d.id());
}

TEST_F(WaitVisibleTest, CreateThroughAnotherInstanceWakesThisOne) {
  auto other = DocgateServer::Start(config_);
  ASSERT_TRUE(other.ok()) << other.status();
  auto other_stub = v1::DocumentService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string((*other)->port()), grpc::InsecureChannelCredentials()));
  const std::string id = store::NewUuidV7();
  Outcomes outcomes;
  auto call = StartWait(*stub_, id, outcomes);
  ASSERT_TRUE(WaitForWaiters(1, seconds(5)));
  Create(*other_stub, id);
  ASSERT_TRUE(outcomes.WaitFor(1, seconds(5)));
  EXPECT_EQ(outcomes.Count(grpc::StatusCode::OK), 1);
  EXPECT_EQ(call->response.document().id(), id);
}

TEST_F(WaitVisibleTest, RowInsertedWithPlainSqlWakesAWaiter) {
  const std::string id = store::NewUuidV7();
  Outcomes outcomes;
  auto call = StartWait(*stub_, id, outcomes);
  ASSERT_TRUE(WaitForWaiters(1, seconds(5)));
  {
    // The minimal INSERT README shows a legacy producer: the rest has defaults.
    pqxx::nontransaction tx(db_->admin());
    tx.exec("INSERT INTO documents (id, name) VALUES (" + tx.quote(id) + ", 'by sql')");
  }
  ASSERT_TRUE(outcomes.WaitFor(1, seconds(5)));
  EXPECT_EQ(outcomes.Count(grpc::StatusCode::OK), 1);
  const v1::Document& doc = call->response.document();
  EXPECT_EQ(doc.name(), "by sql");
  EXPECT_EQ(doc.status(), v1::PENDING);
  EXPECT_EQ(doc.version(), 1);
  EXPECT_GT(doc.create_time().seconds(), 0);
  EXPECT_EQ(doc.update_time().seconds(), doc.create_time().seconds());
}

TEST_F(WaitVisibleTest, AThousandWaitersThenTheirCreatesAllReturn) {
  constexpr int kWaiters = 1000;
  std::vector<std::string> ids;
  Outcomes outcomes;
  std::vector<std::unique_ptr<AsyncWait>> calls;
  for (int i = 0; i < kWaiters; ++i) {
    ids.push_back(store::NewUuidV7());
    calls.push_back(StartWait(*stub_, ids.back(), outcomes));
  }
  ASSERT_TRUE(WaitForWaiters(kWaiters, seconds(20)));
  // Create them from 8 threads.
  std::vector<std::thread> creators;
  for (int t = 0; t < 8; ++t) {
    creators.emplace_back([&, t] {
      for (int i = t; i < kWaiters; i += 8) Create(*stub_, ids[i]);
    });
  }
  for (auto& c : creators) c.join();
  ASSERT_TRUE(outcomes.WaitFor(kWaiters, seconds(30)));
  EXPECT_EQ(outcomes.Count(grpc::StatusCode::OK), kWaiters);
  EXPECT_EQ(outcomes.Count(grpc::StatusCode::DEADLINE_EXCEEDED), 0);
  for (int i = 0; i < kWaiters; ++i) ASSERT_EQ(calls[i]->response.document().id(), ids[i]);
}

TEST_F(WaitVisibleTest, DeadlineOnAnIdNeverCreatedIsDeadlineExceededInTime) {
  v1::WaitVisibleRequest req;
  req.set_id(store::NewUuidV7());
  v1::WaitVisibleResponse resp;
  const auto started = SteadyClock::now();
  const grpc::Status s = stub_->WaitVisible(Context(milliseconds(300)).get(), req, &resp);
  const auto took = SteadyClock::now() - started;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LE(took, milliseconds(400));
  EXPECT_TRUE(WaitForWaiters(0, seconds(1)));
}

TEST_F(WaitVisibleTest, ClientCancelRemovesTheWaiterAtOnce) {
  Outcomes outcomes;
  auto call = StartWait(*stub_, store::NewUuidV7(), outcomes);
  ASSERT_TRUE(WaitForWaiters(1, seconds(5)));
  call->context.TryCancel();
  EXPECT_TRUE(WaitForWaiters(0, milliseconds(200)));
  ASSERT_TRUE(outcomes.WaitFor(1, seconds(5)));
  EXPECT_EQ(outcomes.Count(grpc::StatusCode::CANCELLED), 1);
}

TEST_F(WaitVisibleTest, WritesReturnATokenThatReadsAccept) {
  const std::string id = store::NewUuidV7();
  const v1::CreateDocumentResponse created = Create(*stub_, id);
  ASSERT_FALSE(created.consistency_token().empty());
  v1::GetDocumentRequest get;
  get.set_id(id);
  get.set_consistency_token(created.consistency_token());
  v1::GetDocumentResponse got;
  ASSERT_TRUE(stub_->GetDocument(Context().get(), get, &got).ok());

  v1::UpdateDocumentStatusRequest update;
  update.set_id(id);
  update.set_status(v1::PROCESSING);
  v1::UpdateDocumentStatusResponse updated;
  ASSERT_TRUE(stub_->UpdateDocumentStatus(Context().get(), update, &updated).ok());
  ASSERT_FALSE(updated.consistency_token().empty());
  EXPECT_NE(updated.consistency_token(), created.consistency_token());  // the WAL moved on

  v1::WaitVisibleRequest wait;
  wait.set_id(id);
  wait.set_consistency_token(updated.consistency_token());
  v1::WaitVisibleResponse waited;
  ASSERT_TRUE(stub_->WaitVisible(Context().get(), wait, &waited).ok());
  EXPECT_EQ(waited.document().status(), v1::PROCESSING);
}

TEST_F(WaitVisibleTest, MalformedTokenIsInvalidArgument) {
  const v1::CreateDocumentResponse created = Create(*stub_, store::NewUuidV7());
  std::string tampered = created.consistency_token();
  tampered[2] = tampered[2] == 'A' ? 'B' : 'A';
  for (const std::string& token : {std::string("0/16B3748"), tampered}) {
    v1::GetDocumentRequest get;
    get.set_id(created.document().id());
    get.set_consistency_token(token);
    v1::GetDocumentResponse got;
    const grpc::Status s = stub_->GetDocument(Context().get(), get, &got);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message().rfind("consistency_token:", 0), 0u);
    v1::WaitVisibleRequest wait;
    wait.set_id(created.document().id());
    wait.set_consistency_token(token);
    v1::WaitVisibleResponse waited;
    EXPECT_EQ(stub_->WaitVisible(Context().get(), wait, &waited).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
}

class WaitVisibleLimitsTest : public WaitVisibleTest {
 protected:
  void Configure(Config& config) override {
    config.max_waiters = 2;
    config.max_wait = milliseconds(200);
  }
};

TEST_F(WaitVisibleLimitsTest, MoreWaitersThanTheLimitIsResourceExhausted) {
  Outcomes outcomes;
  auto a = StartWait(*stub_, store::NewUuidV7(), outcomes, seconds(5));
  auto b = StartWait(*stub_, store::NewUuidV7(), outcomes, seconds(5));
  ASSERT_TRUE(WaitForWaiters(2, seconds(5)));
  v1::WaitVisibleRequest req;
  req.set_id(store::NewUuidV7());
  v1::WaitVisibleResponse resp;
  EXPECT_EQ(stub_->WaitVisible(Context().get(), req, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ASSERT_TRUE(outcomes.WaitFor(2, seconds(5)));
}

TEST_F(WaitVisibleLimitsTest, ServerMaxWaitCapsALongerDeadline) {
  v1::WaitVisibleRequest req;
  req.set_id(store::NewUuidV7());
  v1::WaitVisibleResponse resp;
  const auto started = SteadyClock::now();
  EXPECT_EQ(stub_->WaitVisible(Context(seconds(10)).get(), req, &resp).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  const auto took = SteadyClock::now() - started;
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, milliseconds(1000));
}

TEST_F(WaitVisibleTest, ShutdownEndsWaitersWithUnavailable) {
  Outcomes outcomes;
  auto call = StartWait(*stub_, store::NewUuidV7(), outcomes);
  ASSERT_TRUE(WaitForWaiters(1, seconds(5)));
  std::thread stopper([&] { server_->Shutdown(seconds(5)); });
  ASSERT_TRUE(outcomes.WaitFor(1, seconds(3)));
  EXPECT_EQ(outcomes.Count(grpc::StatusCode::UNAVAILABLE), 1);
  stopper.join();
}

}  // namespace
}  // namespace docgate::testing
