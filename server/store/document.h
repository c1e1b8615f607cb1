#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace docgate::store {

// Values match docgate.v1.DocumentStatus and the `status` column.
enum class DocStatus : int16_t {
  kUnspecified = 0,
  kPending = 1,
  kProcessing = 2,
  kCompleted = 3,
  kFailed = 4,
};

using Attributes = std::map<std::string, std::string>;

// A stored document. Timestamps are microseconds since the Unix epoch, from the
// database clock. `body` is empty unless the read asked for it.
struct Document {
  std::string id;  // lowercase canonical UUID
  std::string name;
  std::string source_uri;
  std::string content_type;
  std::string body;
  Attributes attributes;
  DocStatus status = DocStatus::kUnspecified;
  std::string status_detail;
  int64_t version = 0;
  int64_t create_time_us = 0;
  int64_t update_time_us = 0;
  // While PROCESSING under a lease: who holds it and when it runs out; else empty and 0.
  std::string lease_holder;
  int64_t lease_expires_us = 0;
  // How many times a lease on it ran out, the bound its last taker set (0: the
  // server's), who held the lease that ran out last, and when the tasks that
  // expiry re-enqueued are due (0: none pending since; a retry clears it).
  int32_t attempts = 0;
  int32_t max_attempts = 0;
  std::string last_lease_holder;
  int64_t redeliver_us = 0;
};

// A Celery task to deliver once the write it comes with has committed, validated.
struct Task {
  std::string id;  // the Celery task id (UUIDv7), made when the write is made
  std::string task;
  std::string queue;
  std::string args_json;    // a JSON array
  std::string kwargs_json;  // a JSON object
  int32_t countdown_seconds = 0;
};

// A task written to the outbox and not yet delivered to the broker.
struct WaitingTask {
  Task task;
  int64_t create_time_us = 0;
};

// What a client gives to create a document, already validated.
struct NewDocument {
  std::string id;  // lowercase canonical UUID, chosen by the client or the server
  std::string name;
  std::string source_uri;
  std::string content_type;
  std::string body;
  Attributes attributes;
  std::vector<Task> tasks;  // written with the document only when it is created
};

}  // namespace docgate::store
