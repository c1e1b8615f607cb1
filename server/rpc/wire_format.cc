#include "server/rpc/wire_format.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include "server/observability/logging.h"

namespace docgate::rpc {
namespace {

// Protobuf says "String field 'docgate.v1.Document.name' contains invalid UTF-8 ...".
std::string QuotedField(const std::string& complaint) {
  const size_t open = complaint.find('\'');
  const size_t close = open == std::string::npos ? open : complaint.find('\'', open + 1);
  if (close == std::string::npos) return "";
  return complaint.substr(open + 1, close - open - 1);
}

}  // namespace

absl::Status ParseRequest(const grpc::ByteBuffer& bytes, google::protobuf::Message* request) {
  grpc::ByteBuffer copy(bytes);  // shares the slices; parsing consumes the buffer it is given
  ProtobufLogCapture complaints;
  const grpc::Status parsed = grpc::SerializationTraits<google::protobuf::Message>::Deserialize(&copy, request);
  if (parsed.ok()) return absl::OkStatus();
  if (complaints.text().find("UTF-8") != std::string::npos) {
    const std::string field = QuotedField(complaints.text());
    return absl::InvalidArgumentError("request does not parse: string field " + (field.empty() ? "?" : field) +
                                      " is not valid UTF-8");
  }
  return absl::InvalidArgumentError("request does not parse as " + request->GetTypeName());
}

absl::Status SerializeReply(const google::protobuf::Message& reply, grpc::ByteBuffer* bytes) {
  bool own_buffer = false;
  const grpc::Status s = grpc::SerializationTraits<google::protobuf::Message>::Serialize(reply, bytes, &own_buffer);
  return s.ok() ? absl::OkStatus() : absl::InternalError("reply does not serialize");
}

}  // namespace docgate::rpc
