#pragma once

#include "docgate/v1/docgate.pb.h"
#include "server/store/document.h"

namespace docgate::service {

// Copies a stored document into its API form (the body only when it was read).
void ToProto(const store::Document& from, v1::Document* to);

// The content of a validated create request; the id is canonicalised, or made
// here (UUIDv7) when the client left it empty.
store::NewDocument NewDocumentFromProto(const v1::Document& from);

// The validated tasks of a write, each with a new task id (UUIDv7); an empty queue
// is "celery", empty arguments [] and {}.
std::vector<store::Task> TasksFromProto(const google::protobuf::RepeatedPtrField<v1::CeleryTask>& from);

// A stored task in its API form (its id aside), and one waiting in the outbox.
void TaskToProto(const store::Task& from, v1::CeleryTask* to);
void WaitingTaskToProto(const store::WaitingTask& from, v1::WaitingTask* to);

// The ids of `tasks`, into a response's task_ids.
void TaskIdsToProto(const std::vector<store::Task>& tasks, google::protobuf::RepeatedPtrField<std::string>* to);

}  // namespace docgate::service
