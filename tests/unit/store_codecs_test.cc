// UUIDs, attributes JSON, page tokens, status moves, array encodings, snapshots: the store's pure parts.
#include <gtest/gtest.h>

#include <set>

#include "server/store/attributes_json.h"
#include "server/store/page_token.h"
#include "server/store/pg_array.h"
#include "server/store/requeue_tasks.h"
#include "server/store/status_moves.h"
#include "server/store/uuid.h"

namespace docgate::store {
namespace {

TEST(UuidTest, CanonicalisesEitherCase) {
  EXPECT_EQ(CanonicalUuid("0190A5C8-3F1E-7CC2-9A4E-2B7D0C1E5F60"), "0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60");
  for (const char* bad : {"", "0190a5c8", "0190a5c83f1e7cc29a4e2b7d0c1e5f60", "0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f6g",
                          "{0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60}", "0190a5c8_3f1e-7cc2-9a4e-2b7d0c1e5f60"}) {
    EXPECT_FALSE(CanonicalUuid(bad).has_value()) << bad;
  }
}

TEST(UuidTest, MakesDistinctVersion7IdsThatSortByTime) {
  std::set<std::string> seen;
  std::string previous_prefix;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewUuidV7();
    ASSERT_EQ(CanonicalUuid(id), id);
    EXPECT_EQ(id[14], '7');
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
    EXPECT_TRUE(seen.insert(id).second);
    const std::string prefix = id.substr(0, 13);  // the millisecond timestamp
    EXPECT_GE(prefix, previous_prefix);
    previous_prefix = prefix;
  }
}

TEST(AttributesJsonTest, RoundTripsAwkwardStrings) {
  const Attributes attributes = {{"plain", "value"},
                                 {"quote\"back\\slash", "line\nbreak\ttab"},
                                 {"ctl", std::string("\x01\x1f", 2)},
                                 {"ünïcode", "日本語 🎉"},
                                 {"empty", ""}};
  auto decoded = DecodeAttributes(EncodeAttributes(attributes));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, attributes);
}

TEST(AttributesJsonTest, ReadsPostgresJsonbOutput) {
  // How PostgreSQL prints jsonb: spaces after ':' and ',', \u escapes for controls.
  auto decoded = DecodeAttributes(R"({"a": "1", "b": "x\u0001y", "c": "\ud83c\udf89"})");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->at("a"), "1");
  EXPECT_EQ(decoded->at("b"), "x\x01y");
  EXPECT_EQ(decoded->at("c"), "🎉");
  EXPECT_TRUE(DecodeAttributes("{}")->empty());
}

TEST(AttributesJsonTest, RejectsWhatIsNotAFlatStringObject) {
  // (The column is jsonb: PostgreSQL prints only valid JSON, so what matters is the
  // shape; protobuf's parser is lenient with some invalid escapes, which never come.)
  for (const char* bad : {"", "[]", R"({"a": 1})", R"({"a": {"b": "c"}})", R"({"a": "b")", R"({"a" "b"})",
                          R"({"a": "b"} x)", R"({"a": null})", R"({"a": ["b"]})", R"({"a": true})"}) {
    EXPECT_FALSE(DecodeAttributes(bad).ok()) << bad;
  }
}

TEST(PageTokenTest, RoundTrips) {
  const PageCursor cursor{DocStatus::kCompleted, 1732540800123456, "0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60"};
  auto decoded = DecodePageToken(EncodePageToken(cursor), DocStatus::kCompleted);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, cursor);
}

TEST(PageTokenTest, RejectsForgedTamperedAndForeignTokens) {
  const PageCursor cursor{DocStatus::kUnspecified, 42, "0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60"};
  const std::string token = EncodePageToken(cursor);
  std::string tampered = token;
  tampered[5] = tampered[5] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {std::string("garbage"), std::string(""), tampered, token + "AA", token.substr(1)}) {
    auto decoded = DecodePageToken(bad, DocStatus::kUnspecified);
    ASSERT_FALSE(decoded.ok()) << bad;
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(DecodePageToken(token, DocStatus::kPending).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PageTokenTest, AcceptsOnlyTheSpellingItIssued) {
  // The last base64 character carries unused bits; a token with them changed
  // decodes to the same bytes and must still be refused.
  const std::string token = EncodePageToken({DocStatus::kUnspecified, 42, "0190a5c8-3f1e-7cc2-9a4e-2b7d0c1e5f60"});
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int accepted = 0;
  for (char c : alphabet) {
    std::string other = token;
    other.back() = c;
    if (DecodePageToken(other, DocStatus::kUnspecified).ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 1);  // the issued spelling only
}

TEST(StatusMovesTest, AllowsExactlyTheSpecLifeCycle) {
  const DocStatus all[] = {DocStatus::kPending, DocStatus::kProcessing, DocStatus::kCompleted, DocStatus::kFailed};
  int allowed = 0;
  for (DocStatus from : all) {
    for (DocStatus to : all) allowed += IsAllowedMove(from, to) ? 1 : 0;
  }
  EXPECT_EQ(allowed, 5);
  EXPECT_TRUE(IsAllowedMove(DocStatus::kPending, DocStatus::kProcessing));
  EXPECT_TRUE(IsAllowedMove(DocStatus::kProcessing, DocStatus::kCompleted));
  EXPECT_TRUE(IsAllowedMove(DocStatus::kProcessing, DocStatus::kFailed));
  EXPECT_TRUE(IsAllowedMove(DocStatus::kProcessing, DocStatus::kPending));
  EXPECT_TRUE(IsAllowedMove(DocStatus::kFailed, DocStatus::kPending));
  EXPECT_EQ(AllowedSources(DocStatus::kPending).size(), 2u);
  EXPECT_TRUE(AllowedSources(DocStatus::kUnspecified).empty());
}

TEST(PgArrayTest, ByteaArrayBinaryIsArrayRecvsLayout) {
  const std::string nul_and_ff("\0\xff", 2);
  const std::string array = ByteaArrayBinary({"ab", "", nul_and_ff});
  const std::string expected = std::string("\0\0\0\1", 4)      // one dimension
                               + std::string("\0\0\0\0", 4)    // no NULLs
                               + std::string("\0\0\0\x11", 4)  // bytea's type oid, 17
                               + std::string("\0\0\0\3", 4)    // three elements
                               + std::string("\0\0\0\1", 4)    // from index 1
                               + std::string("\0\0\0\2", 4) + "ab" + std::string("\0\0\0\0", 4) +
                               std::string("\0\0\0\2", 4) + nul_and_ff;
  EXPECT_EQ(array, expected);
}

TEST(RequeueTasksJson, KeepsEachTaskAsJsonbToRecordsetReadsIt) {
  EXPECT_EQ(RequeueTasksJson({}), "[]");
  const std::vector<Task> tasks = {{"id-1", "pdf.extract", "q\"1", "[\"a\"]", "{}", 0},
                                   {"id-2", "pdf.index", "celery", "[]", "{\"k\": 1}", 30}};
  EXPECT_EQ(RequeueTasksJson(tasks),
            "[{\"task\":\"pdf.extract\",\"queue\":\"q\\\"1\",\"args\":[\"a\"],\"kwargs\":{},\"countdown_s\":0},"
            "{\"task\":\"pdf.index\",\"queue\":\"celery\",\"args\":[],\"kwargs\":{\"k\": 1},\"countdown_s\":30}]");
}

}  // namespace
}  // namespace docgate::store
