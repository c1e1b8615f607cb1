#include "server/service/validation.h"

#include <gtest/gtest.h>

#include <functional>

namespace docgate::service {
namespace {

v1::CreateDocumentRequest ValidCreate() {
  v1::CreateDocumentRequest r;
  r.mutable_document()->set_name("report.pdf");
  return r;
}

TEST(ValidationTest, AcceptsMinimalCreate) { EXPECT_TRUE(ValidateCreate(ValidCreate(), Limits{}).ok()); }

TEST(ValidationTest, AcceptsValuesAtTheirLimits) {
  Limits limits;
  auto r = ValidCreate();
  auto* d = r.mutable_document();
  d->set_id("0190A5C8-3F1E-7CC2-9A4E-2B7D0C1E5F60");
  d->set_name(std::string(limits.max_name_bytes, 'n'));
  d->set_source_uri(std::string(limits.max_source_uri_bytes, 's'));
  d->set_content_type(std::string(limits.max_content_type_bytes, 'c'));
  d->set_body(std::string(limits.max_body_bytes, '\0'));  // bytes may hold NUL
  d->set_status(v1::PENDING);
  EXPECT_TRUE(ValidateCreate(r, limits).ok());
}

TEST(ValidationTest, RejectsEachInvalidCreateNamingTheField) {
  const Limits limits;
  struct Case {
    const char* field;
    std::function<void(v1::Document*)> spoil;
  };
  const Case cases[] = {
      {"document.id", [](v1::Document* d) { d->set_id("not-a-uuid"); }},
      {"document.name", [](v1::Document* d) { d->set_name(""); }},
      {"document.name", [&](v1::Document* d) { d->set_name(std::string(limits.max_name_bytes + 1, 'n')); }},
      {"document.name", [](v1::Document* d) { d->set_name(std::string("a\0b", 3)); }},
      {"document.source_uri", [&](v1::Document* d) { d->set_source_uri(std::string(2049, 's')); }},
      {"document.source_uri", [](v1::Document* d) { d->set_source_uri(std::string("s3://\0", 6)); }},
      {"document.content_type", [](v1::Document* d) { d->set_content_type(std::string(256, 'c')); }},
      {"document.body", [&](v1::Document* d) { d->set_body(std::string(limits.max_body_bytes + 1, 'b')); }},
      {"document.attributes", [](v1::Document* d) { (*d->mutable_attributes())["k"] = std::string("\0", 1); }},
      {"document.attributes", [](v1::Document* d) { (*d->mutable_attributes())[std::string("k\0", 2)] = "v"; }},
      {"document.attributes", [](v1::Document* d) { (*d->mutable_attributes())[""] = "v"; }},
      {"document.attributes",
       [](v1::Document* d) {
         for (int i = 0; i < 65; ++i) (*d->mutable_attributes())["k" + std::to_string(i)] = "v";
       }},
      {"document.attributes",
       [](v1::Document* d) {
         (*d->mutable_attributes())["a"] = std::string(40000, 'x');
         (*d->mutable_attributes())["b"] = std::string(40000, 'x');
       }},
      {"document.status", [](v1::Document* d) { d->set_status(v1::COMPLETED); }},
      {"document.status_detail", [](v1::Document* d) { d->set_status_detail("early"); }},
  };
  for (const auto& c : cases) {
    auto r = ValidCreate();
    c.spoil(r.mutable_document());
    const absl::Status s = ValidateCreate(r, limits);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(std::string(s.message()).rfind(std::string(c.field) + ":", 0), 0u) << s.message();
  }
  EXPECT_EQ(std::string(ValidateCreate(v1::CreateDocumentRequest(), limits).message()).rfind("document:", 0), 0u);
}

TEST(ValidationTest, ReadsNeedAUuidAndATokenThisServerIssued) {
  store::Cluster cluster;
  cluster.SetSystemIdentifier(1111);
  v1::GetDocumentRequest get;
  EXPECT_EQ(ValidateGet(get, cluster).status().code(), absl::StatusCode::kInvalidArgument);
  get.set_id("0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  EXPECT_TRUE(ValidateGet(get, cluster).ok());
  get.set_consistency_token("forged");
  EXPECT_EQ(ValidateGet(get, cluster).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, UpdateNeedsAKnownStatusAndSaneVersion) {
  const Limits limits;
  v1::UpdateDocumentStatusRequest r;
  r.set_id("0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  EXPECT_EQ(std::string(ValidateUpdateStatus(r, limits).status().message()).rfind("status:", 0), 0u);
  r.set_status(static_cast<v1::DocumentStatus>(99));
  EXPECT_EQ(ValidateUpdateStatus(r, limits).status().code(), absl::StatusCode::kInvalidArgument);
  r.set_status(v1::PROCESSING);
  EXPECT_TRUE(ValidateUpdateStatus(r, limits).ok());
  r.set_expected_version(-1);
  EXPECT_EQ(std::string(ValidateUpdateStatus(r, limits).status().message()).rfind("expected_version:", 0), 0u);
  r.set_expected_version(0);
  r.set_status_detail(std::string(4097, 'd'));
  EXPECT_EQ(std::string(ValidateUpdateStatus(r, limits).status().message()).rfind("status_detail:", 0), 0u);
}

// The field a status names first ("lease_duration: ..."), or "" when OK.
std::string FieldOf(const absl::Status& status) {
  if (status.ok()) return "";
  const std::string m(status.message());
  return m.substr(0, m.find(':'));
}
template <typename T>
std::string FieldOf(const absl::StatusOr<T>& result) {
  return FieldOf(result.status());
}

TEST(ValidationTest, ALeaseComesOnlyWithAMoveToProcessingAndWithinItsBounds) {
  const Limits limits;
  v1::UpdateDocumentStatusRequest r;
  r.set_id("0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  r.set_status(v1::PROCESSING);
  r.mutable_lease_duration()->set_seconds(30);
  r.set_lease_holder("host:42:task");
  EXPECT_EQ(ValidateUpdateStatus(r, limits).value_or(-1), 30000);
  r.mutable_lease_duration()->set_seconds(0);
  r.mutable_lease_duration()->set_nanos(999000000);
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "lease_duration");  // under 1 s
  r.mutable_lease_duration()->set_seconds(24 * 3600 + 1);
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "lease_duration");
  r.mutable_lease_duration()->set_seconds(30);
  r.set_status(v1::COMPLETED);
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "lease_duration");
  r.clear_lease_duration();
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "lease_holder");  // a holder without a lease
  r.clear_lease_holder();
  EXPECT_EQ(ValidateUpdateStatus(r, limits).value_or(-1), 0);
  r.set_status(v1::PROCESSING);
  r.mutable_lease_duration()->set_seconds(30);
  r.set_lease_holder(std::string(256, 'h'));
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "lease_holder");

  r.set_lease_holder("host:42:task");
  r.set_max_attempts(3);
  EXPECT_EQ(ValidateUpdateStatus(r, limits).value_or(-1), 30000);
  r.set_max_attempts(1001);
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "max_attempts");
  r.set_max_attempts(-1);
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "max_attempts");
  r.set_max_attempts(3);
  r.clear_lease_duration();
  r.clear_lease_holder();
  EXPECT_EQ(FieldOf(ValidateUpdateStatus(r, limits)), "max_attempts");  // a bound without a lease

  v1::RenewLeaseRequest renew;
  renew.set_id("0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  renew.mutable_lease_duration()->set_seconds(10);
  EXPECT_EQ(FieldOf(ValidateRenewLease(renew)), "version");
  renew.set_version(2);
  EXPECT_EQ(ValidateRenewLease(renew).value_or(-1), 10000);
  renew.clear_lease_duration();
  EXPECT_EQ(FieldOf(ValidateRenewLease(renew)), "lease_duration");
}

TEST(ValidationTest, ARetrySaysWhatBecomesOfTheAttempts) {
  const Limits limits;
  v1::RetryDocumentRequest r;
  r.set_id("not-a-uuid");
  EXPECT_EQ(FieldOf(ValidateRetry(r, limits)), "id");
  r.set_id("0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  EXPECT_EQ(FieldOf(ValidateRetry(r, limits)), "attempts");  // no default: the operator chooses
  r.set_attempts(v1::KEEP_ATTEMPTS);
  EXPECT_TRUE(ValidateRetry(r, limits).ok());
  r.set_attempts(static_cast<v1::AttemptsOnRetry>(7));
  EXPECT_EQ(FieldOf(ValidateRetry(r, limits)), "attempts");
  r.set_attempts(v1::RESET_ATTEMPTS);
  r.set_expected_version(-1);
  EXPECT_EQ(FieldOf(ValidateRetry(r, limits)), "expected_version");
  r.set_expected_version(0);
  r.set_status_detail(std::string(limits.max_status_detail_bytes + 1, 'd'));
  EXPECT_EQ(FieldOf(ValidateRetry(r, limits)), "status_detail");

  v1::ListDocumentTasksRequest tasks;
  EXPECT_EQ(FieldOf(ValidateListTasks(tasks)), "id");
}

TEST(ValidationTest, TasksToEnqueueAreCheckedAndTheFaultNamed) {
  const Limits limits;
  struct Case {
    std::function<void(v1::CeleryTask&)> spoil;
    const char* field;
  };
  const Case cases[] = {
      {[](v1::CeleryTask& t) { t.clear_task(); }, "enqueue[0].task:"},
      {[](v1::CeleryTask& t) { t.set_task("has space"); }, "enqueue[0].task:"},
      {[](v1::CeleryTask& t) { t.set_task(std::string(256, 'a')); }, "enqueue[0].task:"},
      {[](v1::CeleryTask& t) { t.set_queue("q/1"); }, "enqueue[0].queue:"},
      {[](v1::CeleryTask& t) { t.set_args_json("{\"not\": \"a list\"}"); }, "enqueue[0].args_json:"},
      {[](v1::CeleryTask& t) { t.set_args_json("[1,"); }, "enqueue[0].args_json:"},
      {[](v1::CeleryTask& t) { t.set_args_json("[\"\\u0000\"]"); }, "enqueue[0].args_json:"},
      {[](v1::CeleryTask& t) { t.set_args_json("[" + std::string(70000, '1') + "]"); }, "enqueue[0].args_json:"},
      {[](v1::CeleryTask& t) { t.set_kwargs_json("[1]"); }, "enqueue[0].kwargs_json:"},
      {[](v1::CeleryTask& t) { t.set_countdown_seconds(-1); }, "enqueue[0].countdown_seconds:"},
      {[](v1::CeleryTask& t) { t.set_countdown_seconds(86401); }, "enqueue[0].countdown_seconds:"},
  };
  for (const auto& c : cases) {
    v1::CreateDocumentRequest create;
    create.mutable_document()->set_name("n");
    v1::CeleryTask* task = create.add_enqueue();
    task->set_task("pdf_tasks.extract_text");
    task->set_args_json("[\"x\", 1]");
    task->set_kwargs_json("{\"page\": 2}");
    ASSERT_TRUE(ValidateCreate(create, limits).ok());
    c.spoil(*task);
    const absl::Status s = ValidateCreate(create, limits);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(std::string(s.message()).rfind(c.field, 0), 0u) << s.message();
  }
  v1::CreateDocumentRequest many;
  many.mutable_document()->set_name("n");
  for (int i = 0; i < 17; ++i) many.add_enqueue()->set_task("t");
  EXPECT_EQ(std::string(ValidateCreate(many, limits).message()).rfind("enqueue:", 0), 0u);
  v1::UpdateDocumentStatusRequest move;
  move.set_id("0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  move.set_status(v1::PROCESSING);
  move.add_enqueue();  // no task name
  EXPECT_EQ(std::string(ValidateUpdateStatus(move, limits).status().message()).rfind("enqueue[0].task:", 0), 0u);
}

TEST(ValidationTest, ListRejectsNegativePageSizeAndUnknownStatus) {
  v1::ListDocumentsRequest r;
  EXPECT_TRUE(ValidateList(r).ok());
  r.set_page_size(-1);
  EXPECT_EQ(ValidateList(r).code(), absl::StatusCode::kInvalidArgument);
  r.set_page_size(10);
  r.set_status(static_cast<v1::DocumentStatus>(7));
  EXPECT_EQ(ValidateList(r).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace docgate::service
