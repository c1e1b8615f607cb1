#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "server/store/document_store.h"

namespace docgate::testing {

// A DocumentStore in memory, for the service's logic without PostgreSQL: creates
// and reads keep documents in a map; `fail_with` makes every call fail as the
// database would (UNAVAILABLE, DEADLINE_EXCEEDED...); `update_answer` is what
// UpdateStatus says when it is not OK. Each call is recorded. Thread-safe.
class FakeDocumentStore final : public store::DocumentStore {
 public:
  absl::StatusOr<store::CreateResult> Create(const store::NewDocument& doc, const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("Create");
    if (!fail_with.ok()) return fail_with;
    return CreateLocked(doc);
  }

  absl::StatusOr<std::vector<absl::StatusOr<store::CreateResult>>> CreateMany(
      const std::vector<store::NewDocument>& docs, const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("CreateMany");
    if (!fail_with.ok()) return fail_with;
    std::vector<absl::StatusOr<store::CreateResult>> results;
    for (const auto& doc : docs) results.push_back(CreateLocked(doc));
    return results;
  }

  absl::StatusOr<std::vector<store::Document>> GetMany(const std::vector<std::string>& ids, bool include_body,
                                                       const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back(include_body ? "GetMany+body" : "GetMany");
    if (!fail_with.ok()) return fail_with;
    std::vector<store::Document> found;
    for (const auto& id : ids) {
      auto it = docs_.find(id);
      if (it == docs_.end()) continue;
      found.push_back(it->second);
      if (!include_body) found.back().body.clear();
    }
    return found;
  }

  absl::StatusOr<store::UpdateResult> UpdateStatus(const store::StatusUpdate& update,
                                                   const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("UpdateStatus");
    last_update = update;
    if (!fail_with.ok()) return fail_with;
    if (!update_answer.ok()) return update_answer;
    auto it = docs_.find(update.id);
    if (it == docs_.end()) return absl::NotFoundError("no document has this id");
    it->second.status = update.status;
    ++it->second.version;
    return store::UpdateResult{it->second, ++lsn_};
  }

  absl::StatusOr<store::Document> RenewLease(const std::string& id, int64_t version, int64_t lease_ms,
                                             const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("RenewLease");
    if (!fail_with.ok()) return fail_with;
    auto it = docs_.find(id);
    if (it == docs_.end()) return absl::NotFoundError("no document has this id");
    if (it->second.version != version) return absl::AbortedError("another version");
    it->second.lease_expires_us = lease_ms * 1000;  // a fake clock at 0
    return it->second;
  }

  absl::StatusOr<store::LeaseSweep> ExpireLeases(int, const store::RedeliveryRules&, const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("ExpireLeases");
    if (!fail_with.ok()) return fail_with;
    return store::LeaseSweep{};
  }

  absl::StatusOr<store::RetryResult> RetryFailed(const store::RetryMove& retry, const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("RetryFailed");
    last_retry = retry;
    if (!fail_with.ok()) return fail_with;
    auto it = docs_.find(retry.id);
    if (it == docs_.end()) return absl::NotFoundError("no document has this id");
    if (it->second.status != store::DocStatus::kFailed) return absl::FailedPreconditionError("not FAILED");
    it->second.status = store::DocStatus::kPending;
    it->second.status_detail = retry.status_detail;
    ++it->second.version;
    if (retry.reset_attempts) it->second.attempts = 0;
    return store::RetryResult{it->second, retry_task_ids, ++lsn_};
  }

  absl::StatusOr<store::DocumentTasks> Tasks(const std::string& id, int, const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("Tasks");
    if (!fail_with.ok()) return fail_with;
    if (docs_.count(id) == 0) return absl::NotFoundError("no document has this id");
    return store::DocumentTasks{};
  }

  absl::StatusOr<store::Page> List(store::DocStatus, const std::optional<store::PageCursor>&, int limit,
                                   const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("List");
    if (!fail_with.ok()) return fail_with;
    store::Page page;
    for (const auto& [id, doc] : docs_) {
      if (static_cast<int>(page.documents.size()) == limit) {
        page.next = store::PageCursor{store::DocStatus::kUnspecified, page.documents.back().create_time_us,
                                      page.documents.back().id};
        break;
      }
      page.documents.push_back(doc);
    }
    return page;
  }

  absl::StatusOr<uint64_t> CurrentWalPosition(const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("CurrentWalPosition");
    if (!fail_with.ok()) return fail_with;
    return wal_position;
  }

  absl::StatusOr<std::optional<bool>> Committed(uint64_t xid, const db::QueryContext&) override {
    std::lock_guard lock(mu_);
    calls.push_back("Committed " + std::to_string(xid));
    if (!fail_with.ok()) return fail_with;
    return committed;
  }

  absl::Status fail_with;
  absl::Status update_answer;
  uint64_t wal_position = 0;
  std::optional<bool> committed;
  std::vector<std::string> calls;
  store::StatusUpdate last_update;
  store::RetryMove last_retry;
  std::vector<std::string> retry_task_ids;  // what RetryFailed says it enqueued

 private:
  absl::StatusOr<store::CreateResult> CreateLocked(const store::NewDocument& doc) {
    auto it = docs_.find(doc.id);
    if (it != docs_.end()) {
      const store::Document& d = it->second;
      if (d.name != doc.name || d.body != doc.body || d.attributes != doc.attributes) {
        return absl::AlreadyExistsError("a document with this id exists with different content");
      }
      return store::CreateResult{d, false, ++lsn_};
    }
    store::Document d;
    d.id = doc.id;
    d.name = doc.name;
    d.source_uri = doc.source_uri;
    d.content_type = doc.content_type;
    d.body = doc.body;
    d.attributes = doc.attributes;
    d.status = store::DocStatus::kPending;
    d.version = 1;
    docs_[doc.id] = d;
    d.body.clear();  // a create's result is without the body
    return store::CreateResult{d, true, ++lsn_};
  }

  std::mutex mu_;
  std::map<std::string, store::Document> docs_;
  uint64_t lsn_ = 100;
};

}  // namespace docgate::testing
