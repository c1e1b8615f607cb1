#pragma once

#include <cstdint>
#include <map>
#include <string>

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
};

// What a client gives to create a document, already validated.
struct NewDocument {
  std::string id;  // lowercase canonical UUID, chosen by the client or the server
  std::string name;
  std::string source_uri;
  std::string content_type;
  std::string body;
  Attributes attributes;
};

}  // namespace docgate::store
