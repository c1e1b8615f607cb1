// The message the relay pushes is the one a Celery 5 producer pushes (captured from
// `celery` with redis-cli MONITOR), and the broker URL is read as Celery reads it.
#include "server/outbox/celery_message.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "server/outbox/redis_broker.h"

namespace docgate::outbox {
namespace {

google::protobuf::Struct Parsed(const std::string& json) {
  google::protobuf::Struct message;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &message).ok()) << json;
  return message;
}

const google::protobuf::Value& At(const google::protobuf::Struct& s, const std::string& key) {
  return s.fields().at(key);
}

store::OutboxTask Sample() {
  store::OutboxTask t;
  t.task_id = "01a22a55-6bbc-7969-8d65-a292ea101c78";
  t.document_id = "82fa7a96-ef07-4751-b281-c17da4e6e7bf";
  t.task = "pdf_tasks.extract_text";
  t.queue = "pdf";
  t.args_json = "[\"82fa7a96-ef07-4751-b281-c17da4e6e7bf\"]";
  t.kwargs_json = "{\"page\": 3}";
  t.created_at_us = 1796006162942322;  // 2026-11-30T02:36:02.942322Z
  return t;
}

TEST(CeleryMessageTest, HasCelerysProtocol2HeadersPropertiesAndBody) {
  const auto message = Parsed(CeleryMessage(Sample(), "docgate@host", "tag-1"));
  EXPECT_EQ(At(message, "content-type").string_value(), "application/json");
  EXPECT_EQ(At(message, "content-encoding").string_value(), "utf-8");
  const auto& headers = At(message, "headers").struct_value();
  EXPECT_EQ(At(headers, "task").string_value(), "pdf_tasks.extract_text");
  EXPECT_EQ(At(headers, "id").string_value(), Sample().task_id);
  EXPECT_EQ(At(headers, "root_id").string_value(), Sample().task_id);
  EXPECT_EQ(At(headers, "lang").string_value(), "py");
  EXPECT_EQ(At(headers, "retries").number_value(), 0);
  EXPECT_TRUE(At(headers, "eta").has_null_value());
  EXPECT_EQ(At(headers, "origin").string_value(), "docgate@host");
  const auto& properties = At(message, "properties").struct_value();
  EXPECT_EQ(At(properties, "body_encoding").string_value(), "base64");
  EXPECT_EQ(At(properties, "delivery_tag").string_value(), "tag-1");
  EXPECT_EQ(At(properties, "correlation_id").string_value(), Sample().task_id);
  EXPECT_EQ(At(At(properties, "delivery_info").struct_value(), "routing_key").string_value(), "pdf");
  // The body: [args, kwargs, embed], base64, exactly as Celery's own producer wrote it.
  std::string body;
  ASSERT_TRUE(absl::Base64Unescape(At(message, "body").string_value(), &body));
  EXPECT_EQ(body,
            "[[\"82fa7a96-ef07-4751-b281-c17da4e6e7bf\"], {\"page\": 3}, {\"callbacks\": null, "
            "\"errbacks\": null, \"chain\": null, \"chord\": null}]");
}

TEST(CeleryMessageTest, ACountdownBecomesAnEtaAfterTheCommit) {
  store::OutboxTask t = Sample();
  t.countdown_seconds = 5;
  const auto headers = At(Parsed(CeleryMessage(t, "o", "t")), "headers").struct_value();
  EXPECT_EQ(At(headers, "eta").string_value(), "2026-11-30T02:36:07.942322+00:00");
}

TEST(CeleryMessageTest, NamesAndArgumentsAreEscaped) {
  store::OutboxTask t = Sample();
  t.args_json = "[\"quote \\\" and \\\\ backslash\"]";
  const auto headers = At(Parsed(CeleryMessage(t, "o", "t")), "headers").struct_value();
  EXPECT_EQ(At(headers, "argsrepr").string_value(), t.args_json);
}

TEST(BrokerAddressTest, ReadsRedisUrlsAndRefusesTls) {
  auto a = BrokerAddress::Parse("redis://:secret@broker.example:6380/2", "");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->host, "broker.example");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 2);
  EXPECT_EQ(a->password, "secret");
  auto plain = BrokerAddress::Parse("redis://127.0.0.1", "");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 6379);
  EXPECT_EQ(plain->db, 0);
  for (const char* bad : {"rediss://h:6379", "amqp://h", "redis://", "redis://h:notaport", "redis://h/x"}) {
    EXPECT_EQ(BrokerAddress::Parse(bad, "").status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace docgate::outbox
