// DocumentService against a fake store: every status the API promises, decided in
// the service's logic (validation, the broker check, tokens) or passed through
// from the store unchanged.
#include "server/service/document_service.h"

#include <gtest/gtest.h>

#include "server/store/consistency_token.h"
#include "tests/fakes/fake_document_store.h"

namespace docgate::service {
namespace {

constexpr uint64_t kCluster = 7713780524097078169u;
constexpr char kId[] = "0190b6c4-6f0e-7a3c-9b1d-2e4f6a8c0d12";

class DocumentServiceTest : public ::testing::Test {
 protected:
  DocumentServiceTest() { cluster_.SetSystemIdentifier(kCluster); }

  DocumentService Service(bool broker = false) {
    return DocumentService(
        store_, cluster_, Limits{},
        [this](const store::Document& row, const std::string* body) {
          committed_.push_back(row.id);
          bodies_.push_back(body != nullptr ? *body : "<none>");
        },
        broker ? DocumentService::EnqueueListener([this] { ++enqueued_; }) : nullptr);
  }

  static v1::CreateDocumentRequest NewDoc(const std::string& name, const std::string& body = "b") {
    v1::CreateDocumentRequest request;
    request.mutable_document()->set_id(kId);
    request.mutable_document()->set_name(name);
    request.mutable_document()->set_body(body);
    return request;
  }

  absl::Status Create(DocumentService& service, const v1::CreateDocumentRequest& request,
                      v1::CreateDocumentResponse* response) {
    std::vector<absl::Status> statuses(1);
    service.CreateMany({&request}, {response}, statuses, db::QueryContext{});
    return statuses[0];
  }

  absl::Status Get(DocumentService& service, const v1::GetDocumentRequest& request,
                   v1::GetDocumentResponse* response = nullptr) {
    v1::GetDocumentResponse ignored;
    std::vector<absl::Status> statuses(1);
    service.GetMany({&request}, {response != nullptr ? response : &ignored}, statuses, db::QueryContext{});
    return statuses[0];
  }

  testing::FakeDocumentStore store_;
  store::Cluster cluster_;
  std::vector<std::string> committed_;
  std::vector<std::string> bodies_;
  int enqueued_ = 0;
};

TEST_F(DocumentServiceTest, CreateAnswersTheRowAndATokenAndWakesWaitersWithTheBody) {
  auto service = Service();
  v1::CreateDocumentResponse response;
  ASSERT_TRUE(Create(service, NewDoc("a.pdf", "%PDF"), &response).ok());
  EXPECT_TRUE(response.created());
  EXPECT_EQ(response.document().id(), kId);
  EXPECT_EQ(response.document().status(), v1::PENDING);
  EXPECT_EQ(store::DecodeConsistencyToken(response.consistency_token(), kCluster)->lsn, 101u);
  EXPECT_EQ(committed_, std::vector<std::string>{kId});
  EXPECT_EQ(bodies_, std::vector<std::string>{"%PDF"});  // the waiters answer from it, without a read
}

TEST_F(DocumentServiceTest, CreateAgainIsIdempotentForSameContentAndAlreadyExistsOtherwise) {
  auto service = Service();
  v1::CreateDocumentResponse first, again, other;
  ASSERT_TRUE(Create(service, NewDoc("a.pdf"), &first).ok());
  ASSERT_TRUE(Create(service, NewDoc("a.pdf"), &again).ok());
  EXPECT_FALSE(again.created());
  EXPECT_EQ(committed_.size(), 1u);  // nothing new became visible
  EXPECT_EQ(Create(service, NewDoc("b.pdf"), &other).code(), absl::StatusCode::kAlreadyExists);
}

TEST_F(DocumentServiceTest, StatusesDecidedBeforeTheDatabase) {
  auto service = Service(/*broker=*/false);
  v1::CreateDocumentResponse response;
  struct Case {
    v1::CreateDocumentRequest request;
    absl::StatusCode code;
  };
  v1::CreateDocumentRequest with_task = NewDoc("a.pdf");
  with_task.add_enqueue()->set_task("pdf.extract");
  v1::CreateDocumentRequest bad_id = NewDoc("a.pdf");
  bad_id.mutable_document()->set_id("not-a-uuid");
  const Case cases[] = {
      {NewDoc(""), absl::StatusCode::kInvalidArgument},    // a name is required
      {bad_id, absl::StatusCode::kInvalidArgument},        // id: a UUID or nothing
      {with_task, absl::StatusCode::kFailedPrecondition},  // no broker to deliver to
  };
  for (const auto& c : cases) {
    EXPECT_EQ(Create(service, c.request, &response).code(), c.code) << c.request.ShortDebugString();
  }
  EXPECT_TRUE(store_.calls.empty()) << "nothing reaches the database";
}

TEST_F(DocumentServiceTest, TheDatabasesFailuresPassThroughUnchanged) {
  auto service = Service();
  for (const absl::Status& failure :
       {absl::UnavailableError("database unavailable"), absl::DeadlineExceededError("deadline"),
        absl::CancelledError("cancelled by the client"), absl::AbortedError("serialization")}) {
    store_.fail_with = failure;
    v1::CreateDocumentResponse created;
    EXPECT_EQ(Create(service, NewDoc("a.pdf"), &created), failure);
    v1::GetDocumentRequest get;
    get.set_id(kId);
    EXPECT_EQ(Get(service, get), failure);
    v1::UpdateDocumentStatusRequest update;
    update.set_id(kId);
    update.set_status(v1::PROCESSING);
    v1::UpdateDocumentStatusResponse updated;
    EXPECT_EQ(service.UpdateStatus(update, &updated, db::QueryContext{}), failure);
    v1::ListDocumentsResponse listed;
    EXPECT_EQ(service.List(v1::ListDocumentsRequest{}, &listed, db::QueryContext{}), failure);
  }
  EXPECT_TRUE(committed_.empty());
}

TEST_F(DocumentServiceTest, GetFindsOrSaysNotFoundAndRefusesBadRequests) {
  auto service = Service();
  v1::CreateDocumentResponse created;
  ASSERT_TRUE(Create(service, NewDoc("a.pdf", "body"), &created).ok());
  v1::GetDocumentRequest get;
  get.set_id(kId);
  get.set_include_body(true);
  v1::GetDocumentResponse found;
  ASSERT_TRUE(Get(service, get, &found).ok());
  EXPECT_EQ(found.document().body(), "body");
  get.set_id("0190b6c4-6f0e-7a3c-9b1d-000000000000");
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kNotFound);
  get.set_id("nope");
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DocumentServiceTest, TokensOfAnotherClusterOrAnUnreachedPositionAreInvalid) {
  auto service = Service();
  v1::GetDocumentRequest get;
  get.set_id(kId);
  get.set_consistency_token(store::EncodeConsistencyToken(kCluster + 1, store::WritePosition{5}));
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.calls.empty());
  // A position beyond what this instance saw: the primary is asked, once.
  store_.wal_position = 500;
  get.set_consistency_token(store::EncodeConsistencyToken(kCluster, store::WritePosition{900}));
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.calls, std::vector<std::string>{"CurrentWalPosition"});
  // One the primary has reached is read as usual (and costs no question: 500 is known).
  get.set_consistency_token(store::EncodeConsistencyToken(kCluster, store::WritePosition{400}));
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_.calls, (std::vector<std::string>{"CurrentWalPosition", "GetMany"}));
  // When the primary cannot be asked, the read gets why, not a verdict on the token.
  store_.fail_with = absl::UnavailableError("database unavailable");
  get.set_consistency_token(store::EncodeConsistencyToken(kCluster, store::WritePosition{9000}));
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kUnavailable);
}

TEST_F(DocumentServiceTest, AfterAFailoverAWriteAtTheSwitchPointIsAskedOfThePrimary) {
  constexpr uint64_t kSwitch = 0x5000000;
  cluster_.SetPrimaryTimeline(store::PrimaryTimeline{1, std::vector<store::TimelineSwitch>{}});
  cluster_.SetPrimaryTimeline(store::PrimaryTimeline{2, std::vector<store::TimelineSwitch>{{1, kSwitch}}});
  store_.wal_position = 2 * kSwitch;
  auto service = Service();
  v1::GetDocumentRequest get;
  get.set_id(kId);
  // Its commit began before the switch point and ended past it: transaction 77 decides.
  get.set_consistency_token(
      store::EncodeConsistencyToken(kCluster, store::WritePosition{kSwitch + 8, 1, 77, kSwitch - 8}));
  store_.committed = false;
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(store_.calls.front(), "Committed 77");
  store_.committed = true;
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kNotFound);  // read as usual: the fake has no document
  store_.committed = std::nullopt;                                   // too old to tell
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kFailedPrecondition);
  // Committed past the switch point: lost, and no question asked.
  store_.calls.clear();
  get.set_consistency_token(store::EncodeConsistencyToken(kCluster, store::WritePosition{kSwitch + 8, 1, 77, kSwitch}));
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store_.calls.empty());
}

TEST_F(DocumentServiceTest, ReadsWithATokenWaitForTheClusterToBeKnown) {
  store::Cluster unknown;
  DocumentService service(store_, unknown, Limits{});
  v1::GetDocumentRequest get;
  get.set_id(kId);
  get.set_consistency_token(store::EncodeConsistencyToken(kCluster, store::WritePosition{5}));
  EXPECT_EQ(Get(service, get).code(), absl::StatusCode::kUnavailable);
}

TEST_F(DocumentServiceTest, UpdateStatusPassesTheStoresVerdictsAndWakesWithoutABody) {
  auto service = Service(/*broker=*/true);
  v1::CreateDocumentResponse created;
  ASSERT_TRUE(Create(service, NewDoc("a.pdf"), &created).ok());
  v1::UpdateDocumentStatusRequest update;
  update.set_id(kId);
  update.set_status(v1::PROCESSING);
  update.add_enqueue()->set_task("pdf.extract");
  v1::UpdateDocumentStatusResponse response;
  ASSERT_TRUE(service.UpdateStatus(update, &response, db::QueryContext{}).ok());
  EXPECT_EQ(response.document().status(), v1::PROCESSING);
  EXPECT_EQ(response.task_ids_size(), 1);
  EXPECT_EQ(enqueued_, 1);
  EXPECT_EQ(bodies_.back(), "<none>");
  for (const absl::Status& verdict : {absl::NotFoundError("no document has this id"),
                                      absl::AbortedError("expected_version 3 but the document is at version 4"),
                                      absl::FailedPreconditionError("status cannot move")}) {
    store_.update_answer = verdict;
    EXPECT_EQ(service.UpdateStatus(update, &response, db::QueryContext{}), verdict);
  }
  update.set_status(v1::DOCUMENT_STATUS_UNSPECIFIED);
  EXPECT_EQ(service.UpdateStatus(update, &response, db::QueryContext{}).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(DocumentServiceTest, ALeaseGoesToTheStoreInMillisecondsAndARenewalAnswersTheLeasedDocument) {
  auto service = Service();
  v1::CreateDocumentResponse created;
  ASSERT_TRUE(Create(service, NewDoc("leased.pdf"), &created).ok());
  v1::UpdateDocumentStatusRequest take;
  take.set_id(kId);
  take.set_status(v1::PROCESSING);
  take.set_expected_version(1);
  take.mutable_lease_duration()->set_seconds(2);
  take.mutable_lease_duration()->set_nanos(500000000);
  take.set_lease_holder("host:1:task");
  v1::UpdateDocumentStatusResponse taken;
  ASSERT_TRUE(service.UpdateStatus(take, &taken, db::QueryContext{}).ok());
  EXPECT_EQ(store_.last_update.lease_ms, 2500);
  EXPECT_EQ(store_.last_update.lease_holder, "host:1:task");
  v1::RenewLeaseRequest renew;
  renew.set_id(kId);
  renew.set_version(taken.document().version());
  renew.mutable_lease_duration()->set_seconds(5);
  v1::RenewLeaseResponse renewed;
  ASSERT_TRUE(service.RenewLease(renew, &renewed, db::QueryContext{}).ok());
  EXPECT_EQ(renewed.document().id(), kId);
  EXPECT_EQ(renewed.document().lease_expire_time().seconds(), 5);  // the fake's clock stands at 0
  renew.set_version(1);
  EXPECT_EQ(service.RenewLease(renew, &renewed, db::QueryContext{}).code(), absl::StatusCode::kAborted);
  renew.clear_lease_duration();
  const size_t calls = store_.calls.size();
  EXPECT_EQ(service.RenewLease(renew, &renewed, db::QueryContext{}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.calls.size(), calls) << "an invalid renewal never reaches the store";
}

TEST_F(DocumentServiceTest, ARetryOfAFailedDocumentAnswersItsTasksAndATokenAndWakesTheRelay) {
  auto service = Service(/*broker=*/true);
  v1::CreateDocumentResponse created;
  ASSERT_TRUE(Create(service, NewDoc("poison.pdf"), &created).ok());
  v1::RetryDocumentRequest retry;
  retry.set_id(kId);
  retry.set_attempts(v1::RESET_ATTEMPTS);
  v1::RetryDocumentResponse retried;
  EXPECT_EQ(service.Retry(retry, &retried, db::QueryContext{}).code(), absl::StatusCode::kFailedPrecondition)
      << "a PENDING document is not retried";
  for (auto to : {v1::PROCESSING, v1::FAILED}) {
    v1::UpdateDocumentStatusRequest move;
    move.set_id(kId);
    move.set_status(to);
    v1::UpdateDocumentStatusResponse moved;
    ASSERT_TRUE(service.UpdateStatus(move, &moved, db::QueryContext{}).ok());
  }
  store_.retry_task_ids = {"0190b6c4-6f0e-7a3c-9b1d-2e4f6a8c0d99"};
  const int enqueued = enqueued_;
  committed_.clear();
  ASSERT_TRUE(service.Retry(retry, &retried, db::QueryContext{}).ok());
  EXPECT_TRUE(store_.last_retry.reset_attempts);
  EXPECT_EQ(store_.last_retry.status_detail, "retried by an operator");
  EXPECT_EQ(retried.document().status(), v1::PENDING);
  EXPECT_FALSE(retried.consistency_token().empty());
  EXPECT_EQ(std::vector<std::string>(retried.task_ids().begin(), retried.task_ids().end()), store_.retry_task_ids);
  EXPECT_EQ(enqueued_, enqueued + 1) << "the relay is woken for the tasks enqueued again";
  EXPECT_EQ(committed_, std::vector<std::string>{kId}) << "waiters see the move";

  retry.clear_attempts();
  const size_t calls = store_.calls.size();
  EXPECT_EQ(service.Retry(retry, &retried, db::QueryContext{}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.calls.size(), calls) << "a retry that does not say what becomes of the attempts is refused first";
}

TEST_F(DocumentServiceTest, ListRefusesABadPageTokenOrSize) {
  auto service = Service();
  v1::ListDocumentsRequest list;
  v1::ListDocumentsResponse response;
  list.set_page_token("garbage");
  EXPECT_EQ(service.List(list, &response, db::QueryContext{}).code(), absl::StatusCode::kInvalidArgument);
  list.clear_page_token();
  list.set_page_size(-1);
  EXPECT_EQ(service.List(list, &response, db::QueryContext{}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_.calls.empty());
}

}  // namespace
}  // namespace docgate::service
