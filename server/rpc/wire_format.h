#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>

#include "absl/status/status.h"

namespace docgate::rpc {

// docgate's methods take and give raw bytes, so that a request that does not parse
// is ours to answer: gRPC's own handler would answer UNIMPLEMENTED with no message,
// no metric and no log line, as if the method did not exist.

// Parses a request's bytes into `request`. Bytes that do not parse (not protobuf, a
// field of the wrong wire type, a string that is not UTF-8) are INVALID_ARGUMENT,
// naming the field when protobuf says which (it does for UTF-8, through the log
// handler that SetUpLogging installs).
absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request);

// Serializes a reply into the bytes gRPC sends; INTERNAL if it cannot.
absl::Status SerializeReply(const google::protobuf::Message& reply, grpc::ByteBuffer* bytes);

}  // namespace docgate::rpc
