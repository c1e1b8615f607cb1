#include "server/security/token_file.h"

#include <gtest/gtest.h>

namespace docgate::security {
namespace {

// 64 hex digits, a hash of nothing in particular.
constexpr char kHash[] = "e4b8b4c5d56e1b7e3c4b3f5e3f0a8f1c9b8d0c2e1f4a6b7c8d9e0f1a2b3c4d5e";

TEST(TokenFileTest, ParsesNamesHashesAndScopes) {
  auto tokens = ParseTokenFile(std::string("# docgate tokens\n\n") + "ingest  " + kHash + "  read,write\n" +
                               "dashboards\t" + std::string(64, 'A') + "\tread   # the read-only one\r\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[0].name, "ingest");
  EXPECT_EQ((*tokens)[0].scopes, kRead | kWrite);
  EXPECT_EQ((*tokens)[0].hash[0], 0xe4);
  EXPECT_EQ((*tokens)[0].hash[31], 0x5e);
  EXPECT_EQ((*tokens)[1].name, "dashboards");
  EXPECT_EQ((*tokens)[1].scopes, kRead);
  EXPECT_EQ((*tokens)[1].hash[0], 0xaa);
}

TEST(TokenFileTest, AnEmptyFileHasNoTokens) {
  auto tokens = ParseTokenFile("# nobody yet\n");
  ASSERT_TRUE(tokens.ok());
  EXPECT_TRUE(tokens->empty());
}

TEST(TokenFileTest, RefusalsNameTheLineAndNeverRepeatTheHash) {
  const std::string good = std::string("a ") + kHash + " read\n";
  const std::pair<std::string, std::string> cases[] = {
      {good + "b " + kHash + "\n", "line 2: expected NAME SHA256-HEX SCOPES"},
      {good + "a " + kHash + " write\n", "line 2: the name a is used twice"},
      {good + "b " + std::string(kHash).substr(1) + " read\n", "line 2: the hash is not 64 hex digits"},
      {good + "b " + std::string(63, 'a') + "g read\n", "line 2: the hash is not 64 hex digits"},
      {good + "b " + kHash + " read,admin\n", "line 2: unknown scope 'admin'"},
      {good + "b " + kHash + " read,\n", "line 2: unknown scope ''"},
  };
  for (const auto& [text, message] : cases) {
    auto tokens = ParseTokenFile(text);
    ASSERT_FALSE(tokens.ok()) << text;
    EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(tokens.status().message().find(message), std::string::npos) << tokens.status();
    EXPECT_EQ(tokens.status().message().find(std::string(kHash).substr(8, 16)), std::string::npos);
  }
}

TEST(TokenFileTest, HashesAsSha256sumDoes) {
  // printf %s abc | sha256sum
  const TokenHash abc = HashToken("abc");
  EXPECT_EQ(abc[0], 0xba);
  EXPECT_EQ(abc[1], 0x78);
  EXPECT_EQ(abc[31], 0xad);
}

}  // namespace
}  // namespace docgate::security
