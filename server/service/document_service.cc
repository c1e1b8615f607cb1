#include "server/service/document_service.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "server/service/document_codec.h"
#include "server/service/validation.h"
#include "server/store/consistency_token.h"
#include "server/store/uuid.h"

namespace docgate::service {

void DocumentService::CreateMany(const std::vector<const v1::CreateDocumentRequest*>& requests,
                                 const std::vector<v1::CreateDocumentResponse*>& responses,
                                 std::vector<absl::Status>& statuses, const db::QueryContext& ctx) {
  std::vector<size_t> batched;  // indexes of the valid requests that share the INSERT
  std::vector<store::NewDocument> docs;
  bool enqueued = false;
  for (size_t i = 0; i < requests.size(); ++i) {
    statuses[i] = ValidateCreate(*requests[i], limits_);
    if (statuses[i].ok()) statuses[i] = CheckBroker(requests[i]->enqueue_size());
    if (!statuses[i].ok()) continue;
    store::NewDocument doc = NewDocumentFromProto(requests[i]->document());
    doc.tasks = TasksFromProto(requests[i]->enqueue());
    // Large bodies go alone: no copy of megabytes into the batch's array, and the
    // batch's other creates do not wait on its transfer. (With tasks they join the
    // batch, whose statement writes tasks too.)
    if (doc.body.size() > kMaxBatchedBodyBytes && doc.tasks.empty()) {
      auto result = store_.Create(doc, ctx);
      statuses[i] = result.status();
      if (result.ok()) Answer(*result, doc, responses[i]);
      continue;
    }
    batched.push_back(i);
    docs.push_back(std::move(doc));
  }
  if (docs.empty()) return;
  auto results = store_.CreateMany(docs, ctx);
  for (size_t k = 0; k < batched.size(); ++k) {
    const size_t i = batched[k];
    if (!results.ok()) {
      statuses[i] = results.status();
    } else if (!(*results)[k].ok()) {
      statuses[i] = (*results)[k].status();
    } else {
      enqueued = Answer(*(*results)[k], docs[k], responses[i]) || enqueued;
      statuses[i] = absl::OkStatus();
    }
  }
  if (enqueued) on_enqueued_();
}

bool DocumentService::Answer(const store::CreateResult& result, const store::NewDocument& doc,
                             v1::CreateDocumentResponse* response) {
  if (result.created && on_commit_) on_commit_(result.document, &doc.body);
  ToProto(result.document, response->mutable_document());
  response->set_created(result.created);
  response->set_consistency_token(TokenFor(result.commit));
  if (!result.created || doc.tasks.empty()) return false;
  TaskIdsToProto(doc.tasks, response->mutable_task_ids());
  return true;
}

absl::Status DocumentService::CheckBroker(int tasks) const {
  if (tasks == 0 || on_enqueued_) return absl::OkStatus();
  return absl::FailedPreconditionError("enqueue: this server has no broker to deliver tasks to (--broker-url)");
}

std::string DocumentService::TokenFor(const store::WritePosition& commit) {
  cluster_.Reached(commit.lsn);
  // Known: the write ran on a primary connection, whose set-up learned the cluster.
  return store::EncodeConsistencyToken(cluster_.system_identifier().value_or(0), commit);
}

void DocumentService::RefuseUnreachedPositions(const std::vector<size_t>& valid, const std::vector<ReadPlan>& plans,
                                               std::vector<absl::Status>& statuses, const db::QueryContext& ctx) {
  uint64_t furthest = 0;
  for (size_t i : valid) {
    furthest = std::max(furthest, plans[i].lsn);
    if (plans[i].ask_xid != 0) statuses[i] = AskWhetherCommitted(plans[i], ctx);
  }
  if (furthest <= cluster_.reached()) return;  // the usual case: no query
  const auto now = store_.CurrentWalPosition(ctx);
  if (now.ok()) cluster_.Reached(*now);
  for (size_t i : valid) {
    if (plans[i].lsn <= cluster_.reached() || !statuses[i].ok()) continue;
    statuses[i] =
        now.ok() ? absl::InvalidArgumentError("consistency_token: names a WAL position the database has not reached")
                 : now.status();
  }
}

absl::Status DocumentService::AskWhetherCommitted(const ReadPlan& plan, const db::QueryContext& ctx) {
  const auto committed = store_.Committed(plan.ask_xid, ctx);
  if (!committed.ok()) return committed.status();
  if (!committed->has_value()) {
    return absl::FailedPreconditionError(
        "consistency_token: its write was made before a failover, and the primary cannot tell whether its "
        "transaction committed; read with consistency STRONG");
  }
  return **committed ? absl::OkStatus() : plan.if_not_committed;
}

void DocumentService::GetMany(const std::vector<const v1::GetDocumentRequest*>& requests,
                              const std::vector<v1::GetDocumentResponse*>& responses,
                              std::vector<absl::Status>& statuses, const db::QueryContext& ctx,
                              store::DocumentStore* from) {
  std::vector<size_t> valid;
  std::vector<ReadPlan> plans(requests.size());  // each token's WAL position, and what to ask
  for (size_t i = 0; i < requests.size(); ++i) {
    auto plan = ValidateGet(*requests[i], cluster_);
    statuses[i] = plan.status();
    if (!plan.ok()) continue;
    valid.push_back(i);
    plans[i] = *std::move(plan);
  }
  RefuseUnreachedPositions(valid, plans, statuses, ctx);
  for (const bool with_body : {false, true}) {
    std::vector<size_t> asking;  // indexes of the valid requests with this body choice
    std::vector<std::string> ids;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (requests[i]->include_body() != with_body || !statuses[i].ok()) continue;
      asking.push_back(i);
      ids.push_back(*store::CanonicalUuid(requests[i]->id()));
    }
    if (ids.empty()) continue;
    auto docs = (from != nullptr ? *from : store_).GetMany(ids, with_body, ctx);
    std::unordered_map<std::string_view, const store::Document*> by_id;
    if (docs.ok()) {
      for (const auto& d : *docs) by_id.emplace(d.id, &d);
    }
    for (size_t k = 0; k < asking.size(); ++k) {
      const size_t i = asking[k];
      if (!docs.ok()) {
        statuses[i] = docs.status();
      } else if (auto it = by_id.find(ids[k]); it == by_id.end()) {
        statuses[i] = absl::NotFoundError("no document has this id");
      } else {
        ToProto(*it->second, responses[i]->mutable_document());
        statuses[i] = absl::OkStatus();
      }
    }
  }
}

absl::Status DocumentService::UpdateStatus(const v1::UpdateDocumentStatusRequest& request,
                                           v1::UpdateDocumentStatusResponse* response, const db::QueryContext& ctx) {
  const auto lease_ms = ValidateUpdateStatus(request, limits_);
  if (!lease_ms.ok()) return lease_ms.status();
  if (auto s = CheckBroker(request.enqueue_size()); !s.ok()) return s;
  store::StatusUpdate update{*store::CanonicalUuid(request.id()),
                             static_cast<store::DocStatus>(request.status()),
                             request.status_detail(),
                             request.expected_version(),
                             TasksFromProto(request.enqueue()),
                             *lease_ms,
                             request.lease_holder(),
                             request.max_attempts()};
  auto result = store_.UpdateStatus(update, ctx);
  if (!result.ok()) return result.status();
  if (on_commit_) on_commit_(result->document, nullptr);
  ToProto(result->document, response->mutable_document());
  response->set_consistency_token(TokenFor(result->commit));
  if (!update.tasks.empty()) {
    TaskIdsToProto(update.tasks, response->mutable_task_ids());
    on_enqueued_();
  }
  return absl::OkStatus();
}

absl::Status DocumentService::RenewLease(const v1::RenewLeaseRequest& request, v1::RenewLeaseResponse* response,
                                         const db::QueryContext& ctx) {
  const auto lease_ms = ValidateRenewLease(request);
  if (!lease_ms.ok()) return lease_ms.status();
  auto renewed = store_.RenewLease(*store::CanonicalUuid(request.id()), request.version(), *lease_ms, ctx);
  if (!renewed.ok()) return renewed.status();
  ToProto(*renewed, response->mutable_document());
  return absl::OkStatus();
}

absl::Status DocumentService::List(const v1::ListDocumentsRequest& request, v1::ListDocumentsResponse* response,
                                   const db::QueryContext& ctx) {
  if (auto s = ValidateList(request); !s.ok()) return s;
  const auto filter = static_cast<store::DocStatus>(request.status());
  std::optional<store::PageCursor> after;
  if (!request.page_token().empty()) {
    auto cursor = store::DecodePageToken(request.page_token(), filter);
    if (!cursor.ok()) return cursor.status();
    after = *cursor;
  }
  const int limit = request.page_size() == 0 ? kDefaultPageSize : std::min(request.page_size(), kMaxPageSize);
  auto page = store_.List(filter, after, limit, ctx);
  if (!page.ok()) return page.status();
  for (const auto& doc : page->documents) ToProto(doc, response->add_documents());
  if (page->next) response->set_next_page_token(store::EncodePageToken(*page->next));
  return absl::OkStatus();
}

absl::Status DocumentService::Retry(const v1::RetryDocumentRequest& request, v1::RetryDocumentResponse* response,
                                    const db::QueryContext& ctx) {
  if (auto s = ValidateRetry(request, limits_); !s.ok()) return s;
  store::RetryMove retry{*store::CanonicalUuid(request.id()), request.expected_version(),
                         request.attempts() == v1::RESET_ATTEMPTS,
                         request.status_detail().empty() ? "retried by an operator" : request.status_detail()};
  auto result = store_.RetryFailed(retry, ctx);
  if (!result.ok()) return result.status();
  if (on_commit_) on_commit_(result->document, nullptr);
  ToProto(result->document, response->mutable_document());
  response->set_consistency_token(TokenFor(result->commit));
  for (const auto& id : result->task_ids) response->add_task_ids(id);
  if (!result->task_ids.empty() && on_enqueued_) on_enqueued_();
  return absl::OkStatus();
}

absl::Status DocumentService::Tasks(const v1::ListDocumentTasksRequest& request,
                                    v1::ListDocumentTasksResponse* response, const db::QueryContext& ctx) {
  if (auto s = ValidateListTasks(request); !s.ok()) return s;
  auto tasks = store_.Tasks(*store::CanonicalUuid(request.id()), kMaxWaitingTasks, ctx);
  if (!tasks.ok()) return tasks.status();
  for (const auto& w : tasks->waiting) WaitingTaskToProto(w, response->add_waiting());
  for (const auto& t : tasks->remembered) TaskToProto(t, response->add_remembered());
  return absl::OkStatus();
}

}  // namespace docgate::service
