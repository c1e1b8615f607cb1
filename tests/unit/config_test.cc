#include "server/config.h"

#include <gtest/gtest.h>

namespace docgate {
namespace {

absl::StatusOr<Invocation> Load(std::map<std::string, std::string> env, std::vector<std::string> args) {
  return LoadConfig(env, args);
}

TEST(ConfigTest, DefaultsMatchTheSpec) {
  auto inv = Load({}, {});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->command, Command::kServe);
  EXPECT_EQ(inv->config.listen, "0.0.0.0:50051");
  EXPECT_EQ(inv->config.pool_max, 16);
  EXPECT_EQ(inv->config.limits.max_body_bytes, 4 * 1024 * 1024);
  EXPECT_EQ(inv->config.limits.max_name_bytes, 1024);
}

TEST(ConfigTest, FlagBeatsEnvironmentWhichBeatsDefault) {
  auto inv = Load({{"DOCGATE_POOL_MAX", "8"}, {"DOCGATE_LISTEN", "127.0.0.1:1"}}, {"--pool-max=4"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->config.pool_max, 4);
  EXPECT_EQ(inv->config.listen, "127.0.0.1:1");
}

TEST(ConfigTest, FlagTakesSeparateOrJoinedValue) {
  auto inv = Load({}, {"--acquire-timeout", "250ms", "--log-format=json"});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->config.acquire_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(inv->config.log_format, "json");
}

TEST(ConfigTest, DocgateDatabaseUrlBeatsDatabaseUrl) {
  auto inv = Load({{"DATABASE_URL", "postgresql:///a"}, {"DOCGATE_DATABASE_URL", "postgresql:///b"}}, {});
  ASSERT_TRUE(inv.ok());
  EXPECT_EQ(inv->config.database_url, "postgresql:///b");
}

TEST(ConfigTest, RejectsBadInputWithOneReadableSentence) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const Case cases[] = {
      {{"--no-such-flag=1"}, "unknown flag --no-such-flag"},
      {{"--pool-max=0"}, "--pool-max"},
      {{"--pool-max=many"}, "--pool-max"},
      {{"--pool-max"}, "needs a value"},
      {{"--acquire-timeout=5"}, "duration"},
      {{"--log-format=xml"}, "text|json"},
      {{"--auto-migrate=maybe"}, "true or false"},
      {{"stray"}, "unexpected argument"},
      {{"--pool-max=2", "--pool-min-idle=3"}, "--pool-min-idle"},
  };
  for (const auto& c : cases) {
    auto inv = Load({}, c.args);
    ASSERT_FALSE(inv.ok()) << c.args[0];
    EXPECT_EQ(inv.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(inv.status().message()).find(c.says), std::string::npos) << inv.status().message();
  }
}

TEST(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  auto inv = Load({{"DOCGATE_POOL_MAX", "-1"}}, {});
  ASSERT_FALSE(inv.ok());
  EXPECT_NE(std::string(inv.status().message()).find("DOCGATE_POOL_MAX"), std::string::npos);
}

TEST(ConfigTest, RecognisesCommands) {
  EXPECT_EQ(Load({}, {"--help"})->command, Command::kHelp);
  EXPECT_EQ(Load({}, {"--check-config"})->command, Command::kCheckConfig);
  EXPECT_EQ(Load({}, {"migrate"})->command, Command::kMigrate);
}

TEST(ConfigTest, HelpListsEveryOptionWithEnvAndDefault) {
  const std::string help = HelpText();
  for (const char* expected : {"--listen", "DOCGATE_LISTEN", "'0.0.0.0:50051'", "--pool-max", "'16'",
                               "--database-password-file", "--max-body-bytes", "'4194304'", "--acquire-timeout"}) {
    EXPECT_NE(help.find(expected), std::string::npos) << expected;
  }
}

TEST(ConfigTest, CheckConfigRedactsPasswords) {
  for (const std::string url : {"postgresql://u:s3cr3t@h:5432/db", "host=h user=u password=s3cr3t dbname=db",
                                "postgresql://u:s3cr3t@h:5432/db?sslmode=disable"}) {
    auto inv = Load({{"DATABASE_URL", url}}, {});
    ASSERT_TRUE(inv.ok());
    const std::string described = DescribeConfig(inv->config);
    EXPECT_EQ(described.find("s3cr3t"), std::string::npos) << described;
    EXPECT_NE(described.find("****"), std::string::npos) << described;
  }
}

TEST(ConfigTest, CheckConfigRedactsTheBrokerPassword) {
  auto inv = Load({{"DOCGATE_BROKER_URL", "redis://:s3cr3t@broker:6379/0"}}, {"--outbox-poll-interval=250ms"});
  ASSERT_TRUE(inv.ok());
  const std::string described = DescribeConfig(inv->config);
  EXPECT_EQ(described.find("s3cr3t"), std::string::npos) << described;
  EXPECT_NE(described.find("broker-url = redis://***@broker:6379/0"), std::string::npos) << described;
  EXPECT_NE(described.find("outbox-poll-interval = 250ms"), std::string::npos) << described;
}

TEST(ConfigTest, ReplicasComeFromRepeatedFlagsOrOneSpaceSeparatedVariable) {
  auto from_env = Load({{"DOCGATE_REPLICA_URLS", "postgresql://r1/db  postgresql://r2/db"}}, {});
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->config.replica_urls, (std::vector<std::string>{"postgresql://r1/db", "postgresql://r2/db"}));
  // Flags replace the environment's list rather than adding to it.
  auto from_flags = Load({{"DOCGATE_REPLICA_URLS", "postgresql://r1/db"}},
                         {"--replica-url=postgresql://r3/db", "--replica-url", "host=r4 dbname=db"});
  ASSERT_TRUE(from_flags.ok());
  EXPECT_EQ(from_flags->config.replica_urls, (std::vector<std::string>{"postgresql://r3/db", "host=r4 dbname=db"}));
  EXPECT_TRUE(Load({}, {})->config.replica_urls.empty());
}

TEST(ConfigTest, CheckConfigRedactsReplicaPasswords) {
  auto inv = Load({}, {"--replica-url=postgresql://u:s3cr3t@r1:5432/db", "--replica-wait-max=250ms"});
  ASSERT_TRUE(inv.ok());
  const std::string described = DescribeConfig(inv->config);
  EXPECT_EQ(described.find("s3cr3t"), std::string::npos) << described;
  EXPECT_NE(described.find("replica-wait-max = 250ms"), std::string::npos) << described;
  EXPECT_NE(HelpText().find("DOCGATE_REPLICA_URLS"), std::string::npos);
}

TEST(ConfigTest, TlsFlagsComeInWorkableSets) {
  auto on = Load({}, {"--tls-cert=a.crt", "--tls-key=a.key", "--tls-client-ca=ca.crt"});
  ASSERT_TRUE(on.ok()) << on.status();
  EXPECT_EQ(on->config.tls_client_ca, "ca.crt");
  EXPECT_EQ(on->config.health_listen, "0.0.0.0:50052");

  auto cert_alone = Load({}, {"--tls-cert=a.crt"});
  ASSERT_FALSE(cert_alone.ok());
  EXPECT_NE(cert_alone.status().message().find("--tls-key"), std::string::npos);
  EXPECT_FALSE(Load({}, {"--tls-key=a.key"}).ok());
  auto ca_alone = Load({}, {"--tls-client-ca=ca.crt"});
  ASSERT_FALSE(ca_alone.ok());
  EXPECT_NE(ca_alone.status().message().find("--tls-cert"), std::string::npos);
  EXPECT_FALSE(Load({}, {"--credentials-reload-interval=500ms"}).ok());
  EXPECT_FALSE(Load({}, {"--max-concurrent-streams=0"}).ok());
}

TEST(ConfigTest, ParsesDurations) {
  EXPECT_EQ(*ParseDuration("250ms"), std::chrono::milliseconds(250));
  EXPECT_EQ(*ParseDuration("5s"), std::chrono::milliseconds(5000));
  EXPECT_EQ(*ParseDuration("2m"), std::chrono::milliseconds(120000));
  EXPECT_EQ(*ParseDuration("1h"), std::chrono::milliseconds(3600000));
  for (const char* bad : {"", "5", "s", "-1s", "1.5s", "5 s", "5d"}) EXPECT_FALSE(ParseDuration(bad).ok()) << bad;
}

}  // namespace
}  // namespace docgate
