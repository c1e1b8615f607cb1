// The C++ client's retry policy, against the generated mock stub (no server).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "docgate/client.h"
#include "docgate/v1/docgate_mock.grpc.pb.h"

namespace docgate {
namespace {

using ::testing::_;
using ::testing::Return;

const grpc::Status kUnavailable(grpc::StatusCode::UNAVAILABLE, "down");

ClientOptions FastRetries() {
  ClientOptions options;
  options.retry = RetryPolicy{4, std::chrono::milliseconds(1), std::chrono::milliseconds(2)};
  return options;
}

TEST(ClientRetry, ReadsRetryUnavailableUntilTheyGetAnAnswer) {
  auto stub = std::make_shared<v1::MockDocumentServiceStub>();
  EXPECT_CALL(*stub, GetDocument(_, _, _))
      .WillOnce(Return(kUnavailable))
      .WillOnce(Return(kUnavailable))
      .WillOnce([](grpc::ClientContext*, const v1::GetDocumentRequest& req, v1::GetDocumentResponse* out) {
        out->mutable_document()->set_id(req.id());
        return grpc::Status::OK;
      });
  Client client(stub, FastRetries());
  auto doc = client.GetDocument("0190b0a0-0000-7000-8000-000000000001");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->id(), "0190b0a0-0000-7000-8000-000000000001");
}

TEST(ClientRetry, ReadOptionsReachTheServerAndServedByComesBack) {
  auto stub = std::make_shared<v1::MockDocumentServiceStub>();
  EXPECT_CALL(*stub, WaitVisible(_, _, _))
      .WillOnce([](grpc::ClientContext*, const v1::WaitVisibleRequest& req, v1::WaitVisibleResponse* out) {
        EXPECT_EQ(req.consistency(), v1::AT_LEAST_AS_FRESH);
        EXPECT_EQ(req.consistency_token(), "tok");
        EXPECT_TRUE(req.include_body());
        out->mutable_document()->set_id(req.id());
        out->set_served_by("replica:r1:5432");
        return grpc::Status::OK;
      });
  Client client(stub, FastRetries());
  auto read =
      client.WaitVisible("0190b0a0-0000-7000-8000-000000000001", ReadOptions{true, "tok", v1::AT_LEAST_AS_FRESH});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->served_by, "replica:r1:5432");
  EXPECT_EQ(read->document.id(), "0190b0a0-0000-7000-8000-000000000001");
}

TEST(ClientRetry, GivesUpAfterMaxAttemptsWithTheLastStatus) {
  auto stub = std::make_shared<v1::MockDocumentServiceStub>();
  EXPECT_CALL(*stub, WaitVisible(_, _, _)).Times(4).WillRepeatedly(Return(kUnavailable));
  Client client(stub, FastRetries());
  EXPECT_EQ(client.WaitVisible("x").status().code(), absl::StatusCode::kUnavailable);
}

TEST(ClientRetry, ARetriedCreateKeepsTheIdChosenBeforeTheFirstAttempt) {
  auto stub = std::make_shared<v1::MockDocumentServiceStub>();
  std::vector<std::string> ids;
  EXPECT_CALL(*stub, CreateDocument(_, _, _))
      .Times(3)
      .WillRepeatedly([&](grpc::ClientContext*, const v1::CreateDocumentRequest& req, v1::CreateDocumentResponse* out) {
        ids.push_back(req.document().id());
        if (ids.size() < 3) return kUnavailable;
        *out->mutable_document() = req.document();
        out->set_created(true);
        return grpc::Status::OK;
      });
  Client client(stub, FastRetries());
  v1::Document doc;
  doc.set_name("a.txt");
  auto created = client.CreateDocument(doc);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[0], ids[1]);
  EXPECT_EQ(ids[1], ids[2]);
  EXPECT_EQ(created->document.id(), ids[0]);
  EXPECT_EQ(ids[0].size(), 36u);
  EXPECT_EQ(ids[0][14], '7') << "a UUIDv7";
}

TEST(ClientRetry, NonRetryableCodesAreReturnedAtOnce) {
  for (auto code : {grpc::StatusCode::NOT_FOUND, grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::ABORTED,
                    grpc::StatusCode::INVALID_ARGUMENT, grpc::StatusCode::RESOURCE_EXHAUSTED}) {
    auto stub = std::make_shared<v1::MockDocumentServiceStub>();
    EXPECT_CALL(*stub, GetDocument(_, _, _)).Times(1).WillOnce(Return(grpc::Status(code, "no")));
    Client client(stub, FastRetries());
    const auto result = client.GetDocument("x");
    EXPECT_EQ(static_cast<int>(result.status().code()), static_cast<int>(code));
    EXPECT_EQ(result.status().message(), "no");
  }
}

TEST(ClientRetry, StatusUpdatesAreNeverRetried) {
  auto stub = std::make_shared<v1::MockDocumentServiceStub>();
  EXPECT_CALL(*stub, UpdateDocumentStatus(_, _, _)).Times(1).WillOnce(Return(kUnavailable));
  Client client(stub, FastRetries());
  EXPECT_EQ(client.UpdateStatus("x", v1::PROCESSING).status().code(), absl::StatusCode::kUnavailable);
}

TEST(ClientRetry, EveryCallCarriesADeadlineAndTheToken) {
  auto stub = std::make_shared<v1::MockDocumentServiceStub>();
  ClientOptions options = FastRetries();
  options.timeout = std::chrono::milliseconds(1500);
  options.bearer_token = "t0ken";
  EXPECT_CALL(*stub, ListDocuments(_, _, _))
      .WillOnce([](grpc::ClientContext* context, const v1::ListDocumentsRequest&, v1::ListDocumentsResponse*) {
        const auto left = context->deadline() - std::chrono::system_clock::now();
        EXPECT_GT(left, std::chrono::milliseconds(1000));
        EXPECT_LE(left, std::chrono::milliseconds(1500));
        return grpc::Status::OK;
      });
  Client client(stub, options);
  EXPECT_TRUE(client.ListPage(v1::DOCUMENT_STATUS_UNSPECIFIED, 10).ok());
}

TEST(ClientRetry, StopsRetryingWhenTheDeadlineWouldPassDuringTheBackoff) {
  auto stub = std::make_shared<v1::MockDocumentServiceStub>();
  ClientOptions options;
  options.timeout = std::chrono::milliseconds(100);
  options.retry = RetryPolicy{50, std::chrono::milliseconds(80), std::chrono::milliseconds(80)};
  EXPECT_CALL(*stub, GetDocument(_, _, _)).Times(::testing::Between(1, 3)).WillRepeatedly(Return(kUnavailable));
  Client client(stub, options);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(client.GetDocument("x").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(150));
}

}  // namespace
}  // namespace docgate
