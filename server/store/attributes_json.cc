#include "server/store/attributes_json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

namespace docgate::store {
namespace {

// A JSON object is google.protobuf.Struct in protobuf's JSON mapping: its own JSON
// utilities read and write the column, with no parser of ours.
constexpr std::string_view kEmptyObject = "{}";

}  // namespace

std::string EncodeAttributes(const Attributes& attributes) {
  if (attributes.empty()) return std::string(kEmptyObject);
  google::protobuf::Struct object;
  auto& fields = *object.mutable_fields();
  for (const auto& [key, value] : attributes) fields[key].set_string_value(value);
  std::string json;
  // Cannot fail: every value is a string, and proto3 strings are valid UTF-8.
  (void)google::protobuf::util::MessageToJsonString(object, &json);
  return json;
}

absl::StatusOr<Attributes> DecodeAttributes(std::string_view json) {
  const auto not_ours = absl::InternalError("stored attributes are not a JSON object of strings");
  if (json == kEmptyObject) return Attributes{};
  google::protobuf::Struct object;
  if (!google::protobuf::util::JsonStringToMessage(google::protobuf::StringPiece(json.data(), json.size()), &object)
           .ok()) {
    return not_ours;
  }
  Attributes out;
  for (const auto& [key, value] : object.fields()) {
    if (value.kind_case() != google::protobuf::Value::kStringValue) return not_ours;
    out.emplace(key, value.string_value());
  }
  return out;
}

}  // namespace docgate::store
