#include "server/db/connection_settings.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace docgate::db {
namespace {

TEST(ConnectionSettingsTest, AddsDocgateDefaultsWithoutOverridingTheUrl) {
  auto s = ConnectionSettings::Parse("postgresql://u@h/db?application_name=mine", "", std::chrono::seconds(7));
  ASSERT_TRUE(s.ok());
  const std::string info = *s->ConnInfo();
  EXPECT_NE(info.find("application_name='mine'"), std::string::npos) << info;
  EXPECT_NE(info.find("connect_timeout='7'"), std::string::npos) << info;
  EXPECT_NE(info.find("keepalives='1'"), std::string::npos) << info;
}

TEST(ConnectionSettingsTest, ConnectTimeoutIsAtLeastTwoWholeSeconds) {
  auto s = ConnectionSettings::Parse("", "", std::chrono::milliseconds(300));
  EXPECT_NE(s->ConnInfo()->find("connect_timeout='2'"), std::string::npos);
}

TEST(ConnectionSettingsTest, UnparseableUrlIsRejectedWithoutEchoingIt) {
  auto s = ConnectionSettings::Parse("postgresql://u:s3cr3t@h/db?nonsense_option=1", "", std::chrono::seconds(5));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.status().message()).find("s3cr3t"), std::string::npos);
}

TEST(ConnectionSettingsTest, PasswordFileIsReadAtEveryConnectAndWinsOverTheUrl) {
  char path[] = "/tmp/docgate-pw-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << "first\n";
  auto s = ConnectionSettings::Parse("postgresql://u:inurl@h/db", path, std::chrono::seconds(5));
  ASSERT_TRUE(s.ok());
  EXPECT_NE(s->ConnInfo()->find("password='first'"), std::string::npos);
  EXPECT_EQ(s->ConnInfo()->find("inurl"), std::string::npos);
  std::ofstream(path) << "rotated";
  EXPECT_NE(s->ConnInfo()->find("password='rotated'"), std::string::npos);
  std::remove(path);
  EXPECT_EQ(s->ConnInfo().status().code(), absl::StatusCode::kUnavailable);
}

TEST(ConnectionSettingsTest, QuotesValuesForLibpq) {
  char path[] = "/tmp/docgate-pw-XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  std::ofstream(path) << R"(it's\odd)";
  auto s = ConnectionSettings::Parse("", path, std::chrono::seconds(5));
  EXPECT_NE(s->ConnInfo()->find(R"(password='it\'s\\odd')"), std::string::npos) << *s->ConnInfo();
  std::remove(path);
}

TEST(RedactConnectionStringTest, HidesPasswordsInEveryForm) {
  EXPECT_EQ(RedactConnectionString("postgresql://u:pw@h/db").find("pw@"), std::string::npos);
  EXPECT_EQ(RedactConnectionString("password=pw host=h").find("'pw'"), std::string::npos);
  EXPECT_EQ(RedactConnectionString("garbage 'pw"), "(unparseable, hidden)");
  EXPECT_EQ(RedactConnectionString(""), "");
}

}  // namespace
}  // namespace docgate::db
