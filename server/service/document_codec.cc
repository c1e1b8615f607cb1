#include "server/service/document_codec.h"

#include "server/store/uuid.h"

namespace docgate::service {
namespace {

void SetTimestamp(int64_t micros, google::protobuf::Timestamp* to) {
  // Floor division, so that times before 1970 keep nanos in [0, 1e9).
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  to->set_seconds(seconds);
  to->set_nanos(static_cast<int32_t>(rest * 1000));
}

}  // namespace

void ToProto(const store::Document& from, v1::Document* to) {
  to->set_id(from.id);
  to->set_name(from.name);
  to->set_source_uri(from.source_uri);
  to->set_content_type(from.content_type);
  to->set_body(from.body);
  to->mutable_attributes()->insert(from.attributes.begin(), from.attributes.end());
  to->set_status(static_cast<v1::DocumentStatus>(from.status));
  to->set_status_detail(from.status_detail);
  to->set_version(from.version);
  SetTimestamp(from.create_time_us, to->mutable_create_time());
  SetTimestamp(from.update_time_us, to->mutable_update_time());
  if (from.lease_expires_us != 0) {
    to->set_lease_holder(from.lease_holder);
    SetTimestamp(from.lease_expires_us, to->mutable_lease_expire_time());
  }
  to->set_attempts(from.attempts);
  to->set_max_attempts(from.max_attempts);
  to->set_last_lease_holder(from.last_lease_holder);
  if (from.redeliver_us != 0) SetTimestamp(from.redeliver_us, to->mutable_redelivery_time());
}

void TaskToProto(const store::Task& from, v1::CeleryTask* to) {
  to->set_task(from.task);
  to->set_queue(from.queue);
  to->set_args_json(from.args_json);
  to->set_kwargs_json(from.kwargs_json);
  to->set_countdown_seconds(from.countdown_seconds);
}

void WaitingTaskToProto(const store::WaitingTask& from, v1::WaitingTask* to) {
  to->set_task_id(from.task.id);
  TaskToProto(from.task, to->mutable_task());
  SetTimestamp(from.create_time_us, to->mutable_create_time());
}

store::NewDocument NewDocumentFromProto(const v1::Document& from) {
  store::NewDocument doc;
  doc.id = from.id().empty() ? store::NewUuidV7() : *store::CanonicalUuid(from.id());
  doc.name = from.name();
  doc.source_uri = from.source_uri();
  doc.content_type = from.content_type();
  doc.body = from.body();
  doc.attributes.insert(from.attributes().begin(), from.attributes().end());
  return doc;
}

std::vector<store::Task> TasksFromProto(const google::protobuf::RepeatedPtrField<v1::CeleryTask>& from) {
  std::vector<store::Task> tasks;
  tasks.reserve(static_cast<size_t>(from.size()));
  for (const v1::CeleryTask& t : from) {
    tasks.push_back(store::Task{store::NewUuidV7(), t.task(), t.queue().empty() ? "celery" : t.queue(),
                                t.args_json().empty() ? "[]" : t.args_json(),
                                t.kwargs_json().empty() ? "{}" : t.kwargs_json(), t.countdown_seconds()});
  }
  return tasks;
}

void TaskIdsToProto(const std::vector<store::Task>& tasks, google::protobuf::RepeatedPtrField<std::string>* to) {
  for (const store::Task& t : tasks) to->Add(std::string(t.id));
}

}  // namespace docgate::service
