// Requests come as bytes: what does not parse is INVALID_ARGUMENT, naming the field when it can.
#include "server/rpc/wire_format.h"

#include <gtest/gtest.h>

#include "docgate/v1/docgate.pb.h"
#include "server/observability/logging.h"

namespace docgate::rpc {
namespace {

grpc::ByteBuffer BytesOf(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

TEST(WireFormatTest, AWellFormedRequestRoundTrips) {
  v1::GetDocumentRequest sent;
  sent.set_id("0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  sent.set_include_body(true);
  grpc::ByteBuffer bytes;
  ASSERT_TRUE(SerializeReply(sent, &bytes).ok());
  v1::GetDocumentRequest got;
  ASSERT_TRUE(ParseRequest(bytes, &got).ok());
  EXPECT_EQ(got.id(), sent.id());
  EXPECT_TRUE(got.include_body());
  // The bytes are not consumed: gRPC still owns them.
  v1::GetDocumentRequest again;
  EXPECT_TRUE(ParseRequest(bytes, &again).ok());
  EXPECT_EQ(again.id(), sent.id());
}

TEST(WireFormatTest, BytesThatAreNotProtobufAreInvalidArgument) {
  for (const std::string& bad : {std::string("\xff"),
                                 std::string("\x0a\x05"
                                             "ab"),
                                 std::string("\x0e")}) {
    v1::GetDocumentRequest got;
    const absl::Status s = ParseRequest(BytesOf(bad), &got);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(s.message()), "request does not parse as docgate.v1.GetDocumentRequest");
  }
}

TEST(WireFormatTest, AStringThatIsNotUtf8IsNamed) {
  ASSERT_TRUE(SetUpLogging("text", "off").ok());  // installs the protobuf log handler the parse reads
  v1::GetDocumentRequest sent;
  sent.set_id("PLACEHOLDER");
  std::string raw = sent.SerializeAsString();
  raw.replace(raw.find("PLACEHOLDER"), 2, "\xff\xfe");
  v1::GetDocumentRequest got;
  const absl::Status s = ParseRequest(BytesOf(raw), &got);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("docgate.v1.GetDocumentRequest.id"), std::string::npos) << s.message();
  EXPECT_NE(std::string(s.message()).find("UTF-8"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace docgate::rpc
