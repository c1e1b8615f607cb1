#include "server/security/authenticator.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

namespace docgate::security {
namespace {

std::string Hex(const TokenHash& hash) {
  std::string hex;
  char byte[3];
  for (uint8_t b : hash) {
    std::snprintf(byte, sizeof byte, "%02x", b);
    hex += byte;
  }
  return hex;
}

std::vector<TokenEntry> ReaderAndWriter() {
  return {TokenEntry{"reader", HashToken("read-token"), kRead},
          TokenEntry{"writer", HashToken("write-token"), kRead | kWrite}};
}

TEST(AuthenticatorTest, KnownTokenWithTheScopePassesAndNamesItsCaller) {
  const Authenticator auth(ReaderAndWriter());
  EXPECT_EQ(auth.Authorize("Bearer read-token", kRead).value_or(""), "reader");
  EXPECT_EQ(auth.Authorize("Bearer write-token", kWrite).value_or(""), "writer");
  EXPECT_TRUE(auth.Authorize("Bearer write-token", kRead).ok());
  EXPECT_TRUE(auth.Authorize("Bearer write-token", kWrite).ok());
  EXPECT_TRUE(auth.Authorize("bearer write-token", kWrite).ok()) << "the scheme is case-insensitive";
}

TEST(AuthenticatorTest, MissingMalformedOrUnknownTokensAreUnauthenticated) {
  const Authenticator auth(ReaderAndWriter());
  for (std::optional<std::string_view> header :
       {std::optional<std::string_view>(), std::optional<std::string_view>("read-token"),
        std::optional<std::string_view>("Basic cmVhZC10b2tlbg=="), std::optional<std::string_view>("Bearer "),
        std::optional<std::string_view>("Bearer read-tokeN"), std::optional<std::string_view>("Bearer  read-token")}) {
    const absl::Status status = auth.Authorize(header, kRead).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << header.value_or("(none)");
    EXPECT_EQ(status.message().find("read-token"), std::string::npos) << "the token is never repeated";
  }
}

TEST(AuthenticatorTest, ReadTokenOnAWriteIsPermissionDeniedNamingTheToken) {
  const Authenticator auth(ReaderAndWriter());
  const absl::Status status = auth.Authorize("Bearer read-token", kWrite).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(status.message().find("'reader' lacks the write scope"), std::string::npos) << status;
}

TEST(AuthenticatorTest, OpenRefusesAMissingOrEmptyFile) {
  const std::string path = ::testing::TempDir() + "/docgate-empty-tokens";
  std::ofstream(path) << "# nobody\n";
  EXPECT_EQ(Authenticator::Open(path, std::chrono::seconds(1)).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Authenticator::Open(path + "-missing", std::chrono::seconds(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

// Waits up to 10 s for `condition`, polling.
template <typename Condition>
bool Eventually(Condition condition) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(AuthenticatorTest, ARewrittenFileTakesEffectAndABrokenOneIsIgnored) {
  const std::string path = ::testing::TempDir() + "/docgate-tokens";
  std::ofstream(path) << "old " << Hex(HashToken("old-token")) << " read\n";
  auto auth = Authenticator::Open(path, std::chrono::milliseconds(10));
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_TRUE((*auth)->Authorize("Bearer old-token", kRead).ok());

  std::ofstream(path) << "new " << Hex(HashToken("new-token")) << " read,write\n";
  EXPECT_TRUE(Eventually([&] { return (*auth)->Authorize("Bearer new-token", kWrite).ok(); }));
  EXPECT_EQ((*auth)->Authorize("Bearer old-token", kRead).status().code(), absl::StatusCode::kUnauthenticated);

  // A file that does not parse (a half-written edit): the tokens read before stay.
  std::ofstream(path) << "new " << Hex(HashToken("new-token")) << " read,admin\n";
  EXPECT_EQ((*auth)->Reload().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*auth)->Reload().code(), absl::StatusCode::kInvalidArgument) << "said again until mended";
  EXPECT_TRUE((*auth)->Authorize("Bearer new-token", kWrite).ok());

  // An emptied file would lock every client out: refused, as at start.
  std::ofstream(path) << "# nobody\n";
  EXPECT_EQ((*auth)->Reload().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*auth)->Authorize("Bearer new-token", kWrite).ok());
  std::remove(path.c_str());
}

}  // namespace
}  // namespace docgate::security
