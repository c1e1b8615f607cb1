#include <cstdlib>

#include "docgate/v1/docgate.pb.h"
#include "server/config.h"
#include "server/proto_limits.h"

namespace docgate {

int64_t ProtoLimit(const google::protobuf::Descriptor* message, const char* field, bool total) {
  const google::protobuf::FieldDescriptor* f = message->FindFieldByName(field);
  if (f == nullptr) std::abort();
  const auto& options = f->options();
  if (total) {
    if (!options.HasExtension(v1::limit_total_bytes)) std::abort();
    return options.GetExtension(v1::limit_total_bytes);
  }
  if (!options.HasExtension(v1::limit)) std::abort();
  return options.GetExtension(v1::limit);
}

Limits::Limits() {
  const auto* doc = v1::Document::descriptor();
  max_name_bytes = ProtoLimit(doc, "name");
  max_source_uri_bytes = ProtoLimit(doc, "source_uri");
  max_content_type_bytes = ProtoLimit(doc, "content_type");
  max_status_detail_bytes = ProtoLimit(doc, "status_detail");
  max_attributes = ProtoLimit(doc, "attributes");
  max_attributes_bytes = ProtoLimit(doc, "attributes", /*total=*/true);
  max_body_bytes = ProtoLimit(doc, "body");
}

}  // namespace docgate
