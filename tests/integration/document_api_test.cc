// The document API through a real gRPC stub against the real PostgreSQL.
#include <gtest/gtest.h>
#include <pqxx/nontransaction>

#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "server/service/document_service.h"
#include "server/store/uuid.h"
#include "tests/integration/server_fixture.h"

namespace docgate::testing {
namespace {

class DocumentApiTest : public ServerFixture {
 protected:
  int RowCount(const std::string& id) {
    pqxx::nontransaction tx(db_->admin());
    return tx.exec1("SELECT count(*) FROM documents WHERE id = " + tx.quote(id))[0].as<int>();
  }
  int TotalRows() {
    pqxx::nontransaction tx(db_->admin());
    return tx.exec1("SELECT count(*) FROM documents")[0].as<int>();
  }
  grpc::Status Update(const std::string& id, v1::DocumentStatus status, int64_t expected_version = 0,
                      v1::UpdateDocumentStatusResponse* out = nullptr) {
    v1::UpdateDocumentStatusRequest req;
    req.set_id(id);
    req.set_status(status);
    req.set_status_detail("moved");
    req.set_expected_version(expected_version);
    v1::UpdateDocumentStatusResponse resp;
    return stub_->UpdateDocumentStatus(Context().get(), req, out ? out : &resp);
  }
};

TEST_F(DocumentApiTest, EveryFieldRoundTrips) {
  std::string body(256 * 1024, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i * 7 + 3);  // every byte value
  v1::CreateDocumentRequest req;
  v1::Document* d = req.mutable_document();
  d->set_id(store::NewUuidV7());
  d->set_name("scan 001.pdf");
  d->set_source_uri("s3://bucket/key with spaces/ünï.pdf");
  d->set_content_type("application/pdf");
  d->set_body(body);
  (*d->mutable_attributes())["customer"] = "ACME \"quoted\"\n";
  (*d->mutable_attributes())["日本"] = "🎉";
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);

  v1::CreateDocumentResponse created;
  ASSERT_TRUE(stub_->CreateDocument(Context().get(), req, &created).ok());
  EXPECT_TRUE(created.created());
  EXPECT_EQ(created.document().id(), d->id());
  EXPECT_EQ(created.document().status(), v1::PENDING);
  EXPECT_EQ(created.document().version(), 1);

  v1::GetDocumentRequest get;
  get.set_id(d->id());
  get.set_include_body(true);
  v1::GetDocumentResponse got;
  ASSERT_TRUE(stub_->GetDocument(Context().get(), get, &got).ok());
  const v1::Document& g = got.document();
  EXPECT_EQ(g.name(), d->name());
  EXPECT_EQ(g.source_uri(), d->source_uri());
  EXPECT_EQ(g.content_type(), d->content_type());
  EXPECT_EQ(g.body(), body);  // byte-exact
  EXPECT_EQ(g.attributes().size(), 2u);
  EXPECT_EQ(g.attributes().at("customer"), "ACME \"quoted\"\n");
  EXPECT_EQ(g.attributes().at("日本"), "🎉");
  EXPECT_EQ(g.status(), v1::PENDING);
  EXPECT_EQ(g.create_time().seconds(), created.document().create_time().seconds());
  EXPECT_EQ(g.create_time().nanos(), created.document().create_time().nanos());
  EXPECT_GE(g.create_time().seconds(), std::chrono::system_clock::to_time_t(before));
  EXPECT_EQ(g.create_time().nanos() % 1000, 0);  // microseconds, as PostgreSQL keeps them

  get.set_include_body(false);
  ASSERT_TRUE(stub_->GetDocument(Context().get(), get, &got).ok());
  EXPECT_TRUE(got.document().body().empty());

  v1::UpdateDocumentStatusResponse updated;
  ASSERT_TRUE(Update(d->id(), v1::PROCESSING, 1, &updated).ok());
  EXPECT_EQ(updated.document().status(), v1::PROCESSING);
  EXPECT_EQ(updated.document().status_detail(), "moved");
  EXPECT_EQ(updated.document().version(), 2);
  const auto& ut = updated.document().update_time();
  const auto& ct = updated.document().create_time();
  EXPECT_TRUE(ut.seconds() > ct.seconds() || (ut.seconds() == ct.seconds() && ut.nanos() >= ct.nanos()));
}

TEST_F(DocumentApiTest, ServerMakesAUuidV7WhenIdIsEmpty) {
  const v1::Document d = CreateOk("no id");
  EXPECT_EQ(store::CanonicalUuid(d.id()), d.id());
  EXPECT_EQ(d.id()[14], '7');
}

TEST_F(DocumentApiTest, CreateIsIdempotentForSameContent) {
  v1::CreateDocumentRequest req;
  req.mutable_document()->set_id(store::NewUuidV7());
  req.mutable_document()->set_name("a.txt");
  req.mutable_document()->set_body("hello");
  (*req.mutable_document()->mutable_attributes())["k"] = "v";
  v1::CreateDocumentResponse first, second;
  ASSERT_TRUE(stub_->CreateDocument(Context().get(), req, &first).ok());
  ASSERT_TRUE(stub_->CreateDocument(Context().get(), req, &second).ok());
  EXPECT_TRUE(first.created());
  EXPECT_FALSE(second.created());
  EXPECT_EQ(second.document().create_time().seconds(), first.document().create_time().seconds());
  EXPECT_EQ(second.document().create_time().nanos(), first.document().create_time().nanos());
  EXPECT_EQ(RowCount(req.document().id()), 1);

  // Uppercase is the same id.
  std::string upper = req.document().id();
  for (auto& c : upper) c = static_cast<char>(std::toupper(c));
  req.mutable_document()->set_id(upper);
  ASSERT_TRUE(stub_->CreateDocument(Context().get(), req, &second).ok());
  EXPECT_FALSE(second.created());
}

TEST_F(DocumentApiTest, SameIdWithDifferentContentIsAlreadyExists) {
  const v1::Document original = CreateOk("a.txt", store::NewUuidV7());
  const std::function<void(v1::Document*)> changes[] = {
      [](v1::Document* d) { d->set_name("b.txt"); },
      [](v1::Document* d) { d->set_body("different"); },
      [](v1::Document* d) { d->set_source_uri("s3://x/y"); },
      [](v1::Document* d) { d->set_content_type("text/plain"); },
      [](v1::Document* d) { (*d->mutable_attributes())["k"] = "v"; },
  };
  for (const auto& change : changes) {
    v1::CreateDocumentRequest req;
    req.mutable_document()->set_id(original.id());
    req.mutable_document()->set_name("a.txt");
    change(req.mutable_document());
    v1::CreateDocumentResponse resp;
    EXPECT_EQ(stub_->CreateDocument(Context().get(), req, &resp).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  }
  EXPECT_EQ(RowCount(original.id()), 1);
}

TEST_F(DocumentApiTest, ConcurrentCreatesOfOneIdMakeExactlyOneRow) {
  const std::string id = store::NewUuidV7();
  std::atomic<int> created{0}, existing{0}, failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&] {
      v1::CreateDocumentRequest req;
      req.mutable_document()->set_id(id);
      req.mutable_document()->set_name("race.bin");
      req.mutable_document()->set_body("same body");
      v1::CreateDocumentResponse resp;
      const grpc::Status s = stub_->CreateDocument(Context().get(), req, &resp);
      if (!s.ok()) {
        ++failed;
      } else if (resp.created()) {
        ++created;
      } else {
        ++existing;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(created, 1);
  EXPECT_EQ(existing, 31);
  EXPECT_EQ(RowCount(id), 1);
}

TEST_F(DocumentApiTest, GetOfMissingIdIsNotFound) {
  v1::GetDocumentRequest req;
  req.set_id(store::NewUuidV7());
  v1::GetDocumentResponse resp;
  EXPECT_EQ(stub_->GetDocument(Context().get(), req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Update(req.id(), v1::PROCESSING).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(DocumentApiTest, ConcurrentGetsShareQueriesAndEachGetsItsOwnAnswer) {
  const v1::Document a = CreateOk("a");
  v1::CreateDocumentRequest create_b;
  create_b.mutable_document()->set_name("b");
  create_b.mutable_document()->set_body("bee");
  v1::CreateDocumentResponse created_b;
  ASSERT_TRUE(stub_->CreateDocument(Context().get(), create_b, &created_b).ok());
  const std::string b = created_b.document().id();
  std::string upper_b = b;
  for (char& c : upper_b) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  struct Ask {
    std::string id;
    bool include_body;
    grpc::StatusCode code;
    std::string name, body;  // expected when OK
  };
  const std::vector<Ask> asks = {{a.id(), false, grpc::StatusCode::OK, "a", ""},
                                 {b, true, grpc::StatusCode::OK, "b", "bee"},
                                 {upper_b, false, grpc::StatusCode::OK, "b", ""},
                                 {store::NewUuidV7(), true, grpc::StatusCode::NOT_FOUND, "", ""},
                                 {"not-a-uuid", false, grpc::StatusCode::INVALID_ARGUMENT, "", ""}};
  constexpr int kThreads = 40, kEach = 10;
  const uint64_t leases_before = server_->pool_stats().leased_total;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const Ask& ask = asks[static_cast<size_t>(t + i) % asks.size()];
        v1::GetDocumentRequest req;
        req.set_id(ask.id);
        req.set_include_body(ask.include_body);
        v1::GetDocumentResponse resp;
        const grpc::Status s = stub_->GetDocument(Context().get(), req, &resp);
        const bool right = s.error_code() == ask.code &&
                           (!s.ok() || (resp.document().name() == ask.name && resp.document().body() == ask.body));
        if (!right) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  // 400 reads, of which 320 reach the database: concurrent ones share a connection
  // lease and one query.
  EXPECT_LT(server_->pool_stats().leased_total - leases_before, 160u);
}

TEST_F(DocumentApiTest, ConcurrentCreatesShareAnInsertAndEachGetsItsOwnAnswer) {
  // Texts that an array literal could mangle, and bodies of every byte value.
  const std::vector<std::string> awkward = {
      "plain", "with \"quotes\"", "back\\slash\\", "{braces},commas", "new\nline", "NULL", "", "Grüße 🌍"};
  std::string every_byte(256, '\0');
  for (int i = 0; i < 256; ++i) every_byte[static_cast<size_t>(i)] = static_cast<char>(i);
  const v1::Document existing = CreateOk("existing");
  struct Case {
    v1::CreateDocumentRequest request;
    grpc::StatusCode code;
    bool created;
  };
  std::vector<Case> cases;
  for (size_t i = 0; i < 40; ++i) {
    v1::CreateDocumentRequest req;
    auto* d = req.mutable_document();
    d->set_id(store::NewUuidV7());
    d->set_name("n:" + awkward[i % awkward.size()]);  // a name is required
    d->set_source_uri(awkward[(i + 1) % awkward.size()]);
    d->set_content_type(awkward[(i + 2) % awkward.size()]);
    d->set_body(i % 3 == 0 ? every_byte : std::string(i % 2 == 0 ? 20000 : 10, 'b'));  // some too big to batch
    (*d->mutable_attributes())["k:" + awkward[(i + 3) % awkward.size()]] = awkward[(i + 4) % awkward.size()];
    cases.push_back({req, grpc::StatusCode::OK, true});
    cases.push_back({req, grpc::StatusCode::OK, false});  // the same again, in the same burst
  }
  v1::CreateDocumentRequest same;
  same.mutable_document()->set_id(existing.id());
  same.mutable_document()->set_name("existing");
  cases.push_back({same, grpc::StatusCode::OK, false});
  v1::CreateDocumentRequest different = same;
  different.mutable_document()->set_name("another");
  cases.push_back({different, grpc::StatusCode::ALREADY_EXISTS, false});
  v1::CreateDocumentRequest invalid;
  invalid.mutable_document()->set_id("not-a-uuid");
  cases.push_back({invalid, grpc::StatusCode::INVALID_ARGUMENT, false});

  const uint64_t leases_before = server_->pool_stats().leased_total;
  std::vector<grpc::Status> statuses(cases.size());
  std::vector<v1::CreateDocumentResponse> responses(cases.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cases.size(); ++i) {
    threads.emplace_back(
        [&, i] { statuses[i] = stub_->CreateDocument(Context().get(), cases[i].request, &responses[i]); });
  }
  for (auto& t : threads) t.join();
  // Bodies too big to batch go alone; the rest share leases (and INSERTs).
  size_t alone = 0;
  for (const Case& c : cases) alone += c.request.document().body().size() > 16 * 1024 ? 1 : 0;
  EXPECT_LT(server_->pool_stats().leased_total - leases_before, alone + (cases.size() - alone) / 2);

  std::map<std::string, int> created_per_id;
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(statuses[i].error_code(), cases[i].code) << i << ": " << statuses[i].error_message();
    if (!statuses[i].ok()) continue;
    created_per_id[responses[i].document().id()] += responses[i].created() ? 1 : 0;
    EXPECT_FALSE(responses[i].consistency_token().empty());
  }
  for (const auto& [id, created] : created_per_id) {
    EXPECT_EQ(created, id == existing.id() ? 0 : 1) << id;  // each new id created exactly once
  }
  for (size_t i = 0; i < 80; i += 2) {  // every field as sent
    v1::GetDocumentRequest get;
    get.set_id(cases[i].request.document().id());
    get.set_include_body(true);
    v1::GetDocumentResponse got;
    ASSERT_TRUE(stub_->GetDocument(Context().get(), get, &got).ok());
    const v1::Document& sent = cases[i].request.document();
    EXPECT_EQ(got.document().name(), sent.name());
    EXPECT_EQ(got.document().source_uri(), sent.source_uri());
    EXPECT_EQ(got.document().content_type(), sent.content_type());
    EXPECT_EQ(got.document().body(), sent.body());
    EXPECT_EQ(got.document().attributes().at(sent.attributes().begin()->first), sent.attributes().begin()->second);
  }
}

TEST_F(DocumentApiTest, EveryAllowedAndForbiddenStatusMove) {
  const v1::DocumentStatus all[] = {v1::PENDING, v1::PROCESSING, v1::COMPLETED, v1::FAILED};
  const std::set<std::pair<int, int>> allowed = {{v1::PENDING, v1::PROCESSING},
                                                 {v1::PROCESSING, v1::COMPLETED},
                                                 {v1::PROCESSING, v1::FAILED},
                                                 {v1::PROCESSING, v1::PENDING},
                                                 {v1::FAILED, v1::PENDING}};
  // The shortest path from PENDING to each status, through allowed moves.
  const std::map<int, std::vector<v1::DocumentStatus>> path = {{v1::PENDING, {}},
                                                               {v1::PROCESSING, {v1::PROCESSING}},
                                                               {v1::COMPLETED, {v1::PROCESSING, v1::COMPLETED}},
                                                               {v1::FAILED, {v1::PROCESSING, v1::FAILED}}};
  for (v1::DocumentStatus from : all) {
    for (v1::DocumentStatus to : all) {
      const v1::Document d = CreateOk("moves");
      for (v1::DocumentStatus step : path.at(from)) ASSERT_TRUE(Update(d.id(), step).ok());
      const grpc::Status s = Update(d.id(), to);
      if (allowed.count({from, to}) > 0) {
        EXPECT_TRUE(s.ok()) << from << "->" << to << ": " << s.error_message();
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << from << "->" << to;
      }
    }
  }
}

TEST_F(DocumentApiTest, VersionMismatchIsAbortedAndChangesNothing) {
  const v1::Document d = CreateOk("versioned");
  EXPECT_EQ(Update(d.id(), v1::PROCESSING, 2).error_code(), grpc::StatusCode::ABORTED);
  v1::UpdateDocumentStatusResponse resp;
  ASSERT_TRUE(Update(d.id(), v1::PROCESSING, 1, &resp).ok());
  EXPECT_EQ(resp.document().version(), 2);
  EXPECT_EQ(Update(d.id(), v1::COMPLETED, 1).error_code(), grpc::StatusCode::ABORTED);
  v1::GetDocumentRequest get;
  get.set_id(d.id());
  v1::GetDocumentResponse got;
  ASSERT_TRUE(stub_->GetDocument(Context().get(), get, &got).ok());
  EXPECT_EQ(got.document().status(), v1::PROCESSING);
  EXPECT_EQ(got.document().version(), 2);
}

TEST_F(DocumentApiTest, ListWalksEveryDocumentOnceInPages) {
  std::set<std::string> all, processing;
  for (int i = 0; i < 250; ++i) {
    const v1::Document d = CreateOk("doc " + std::to_string(i));
    all.insert(d.id());
    if (i % 3 == 0) {
      ASSERT_TRUE(Update(d.id(), v1::PROCESSING).ok());
      processing.insert(d.id());
    }
  }
  for (v1::DocumentStatus filter : {v1::DOCUMENT_STATUS_UNSPECIFIED, v1::PROCESSING}) {
    std::vector<std::string> seen;
    v1::ListDocumentsRequest req;
    req.set_page_size(7);
    req.set_status(filter);
    int pages = 0;
    do {
      v1::ListDocumentsResponse resp;
      const grpc::Status s = stub_->ListDocuments(Context().get(), req, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_LE(resp.documents_size(), 7);
      for (const auto& d : resp.documents()) {
        seen.push_back(d.id());
        if (filter != v1::DOCUMENT_STATUS_UNSPECIFIED) {
          EXPECT_EQ(d.status(), filter);
        }
      }
      req.set_page_token(resp.next_page_token());
      ASSERT_LT(++pages, 100);
    } while (!req.page_token().empty());
    const std::set<std::string>& expected = filter == v1::PROCESSING ? processing : all;
    EXPECT_EQ(seen.size(), expected.size());                               // no duplicate...
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), expected);  // ...and no miss
  }
}

TEST_F(DocumentApiTest, ForgedOrForeignPageTokenIsInvalidArgument) {
  for (int i = 0; i < 3; ++i) CreateOk("p" + std::to_string(i));
  v1::ListDocumentsRequest req;
  req.set_page_size(1);
  v1::ListDocumentsResponse resp;
  ASSERT_TRUE(stub_->ListDocuments(Context().get(), req, &resp).ok());
  ASSERT_FALSE(resp.next_page_token().empty());
  const std::string good = resp.next_page_token();

  std::string tampered = good;  // one character of the sealed payload changed: its checksum no longer holds
  tampered[4] = tampered[4] == 'A' ? 'B' : 'A';
  for (const std::string& forged : {std::string("forged"), tampered}) {
    req.set_page_token(forged);
    EXPECT_EQ(stub_->ListDocuments(Context().get(), req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  req.set_page_token(good);
  req.set_status(v1::COMPLETED);  // a token for another filter
  EXPECT_EQ(stub_->ListDocuments(Context().get(), req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DocumentApiTest, InvalidInputIsRejectedNamingTheFieldAndNothingIsWritten) {
  struct Case {
    const char* field;
    std::function<void(v1::Document*)> spoil;
  };
  const Case cases[] = {
      {"document.id", [](v1::Document* d) { d->set_id("12345"); }},
      {"document.name", [](v1::Document* d) { d->set_name(""); }},
      {"document.name", [](v1::Document* d) { d->set_name(std::string("nul\0inside", 10)); }},
      {"document.source_uri", [](v1::Document* d) { d->set_source_uri(std::string("s3://\0", 6)); }},
      {"document.attributes", [](v1::Document* d) { (*d->mutable_attributes())["k"] = std::string("v\0", 2); }},
      {"document.attributes",
       [](v1::Document* d) { (*d->mutable_attributes())["big"] = std::string(64 * 1024 + 1, 'a'); }},
      {"document.body", [](v1::Document* d) { d->set_body(std::string(4 * 1024 * 1024 + 1, 'b')); }},
  };
  for (const auto& c : cases) {
    v1::CreateDocumentRequest req;
    req.mutable_document()->set_name("valid.txt");
    c.spoil(req.mutable_document());
    v1::CreateDocumentResponse resp;
    const grpc::Status s = stub_->CreateDocument(Context().get(), req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.field;
    EXPECT_EQ(s.error_message().rfind(std::string(c.field) + ":", 0), 0u) << s.error_message();
  }
  v1::GetDocumentRequest get;
  get.set_id("not-a-uuid");
  v1::GetDocumentResponse got;
  const grpc::Status s = stub_->GetDocument(Context().get(), get, &got);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message().rfind("id:", 0), 0u);
  EXPECT_EQ(TotalRows(), 0);
}

TEST_F(DocumentApiTest, ResponsesCarryARequestId) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-request-id", "trace-abc.123");
  v1::GetDocumentRequest req;
  req.set_id(store::NewUuidV7());
  v1::GetDocumentResponse resp;
  stub_->GetDocument(&ctx, req, &resp);
  auto trailing = ctx.GetServerTrailingMetadata();
  auto it = trailing.find("x-request-id");
  ASSERT_NE(it, trailing.end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), "trace-abc.123");
}

TEST_F(DocumentApiTest, HealthAnswersForEveryNameItServesAndOnlyThose) {
  // The fixture waited for kServiceName; the overall name and liveness say so too,
  // and a name docgate does not serve is NOT_FOUND (a probe with a typo fails).
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* name : {"", kServiceName, kLivenessService}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(Context(std::chrono::seconds(5)).get(), request, &response).ok()) << name;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING) << name;
  }
  grpc::health::v1::HealthCheckRequest unknown;
  unknown.set_service("docgate.v1.NoSuchService");
  grpc::health::v1::HealthCheckResponse response;
  EXPECT_EQ(health->Check(Context(std::chrono::seconds(5)).get(), unknown, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace docgate::testing
