#include "server/config_file.h"

#include <gtest/gtest.h>

namespace docgate {
namespace {

constexpr char kFull[] = R"({
  "pool": {"max": 4, "min_idle": 2},
  "acquire_timeout": "2s",
  "statement_timeout": "750ms",
  "max_wait": "10s",
  "max_waiters": 500,
  "log_level": "debug",
  "max_replica_lag_bytes": 1024,
  "admission": {
    "mode": "fair",
    "max_queue_wait": "500ms",
    "defaults": {"weight": 1, "max_running": 8, "max_queued": 100},
    "callers": {
      "api": {"weight": 8},
      "backfill": {"weight": 1, "max_running": 2, "max_queued": 50}
    }
  },
  "leases": {"max_attempts": 3, "backoff": "30s", "backoff_max": "1h"}
})";

TEST(ConfigFileTest, EveryKeyOverridesItsFlag) {
  const auto c = ApplyConfigJson(Config{}, kFull);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->pool_max, 4);
  EXPECT_EQ(c->pool_min_idle, 2);
  EXPECT_EQ(c->acquire_timeout, std::chrono::seconds(2));
  EXPECT_EQ(c->statement_timeout, std::chrono::milliseconds(750));
  EXPECT_EQ(c->max_wait, std::chrono::seconds(10));
  EXPECT_EQ(c->max_waiters, 500);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->max_replica_lag_bytes, 1024);
  const AdmissionPolicy policy = AdmissionPolicyOf(*c);
  EXPECT_TRUE(policy.fair);
  EXPECT_EQ(policy.max_queue_wait, std::chrono::milliseconds(500));
  EXPECT_EQ(policy.default_share, (CallerShare{1, 8, 100}));
  // A named caller takes what it does not say from the defaults.
  EXPECT_EQ(policy.ShareOf("api"), (CallerShare{8, 8, 100}));
  EXPECT_EQ(policy.ShareOf("backfill"), (CallerShare{1, 2, 50}));
  EXPECT_EQ(policy.ShareOf("someone-else"), policy.default_share);
  const leases::RedeliveryPolicy redelivery = RedeliveryPolicyOf(*c);
  EXPECT_EQ(redelivery.max_attempts, 3);
  EXPECT_EQ(redelivery.backoff, std::chrono::seconds(30));
  EXPECT_EQ(redelivery.backoff_max, std::chrono::hours(1));
  EXPECT_TRUE(RuntimeDiffers(Config{}, *c));
}

TEST(ConfigFileTest, WhatTheFileLeavesOutKeepsTheFlagsValue) {
  Config flags;
  flags.pool_max = 32;
  flags.acquire_timeout = std::chrono::seconds(9);
  flags.admission = "fifo";
  const auto c = ApplyConfigJson(flags, R"({"log_level": "warn"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->pool_max, 32);
  EXPECT_EQ(c->acquire_timeout, std::chrono::seconds(9));
  EXPECT_EQ(c->admission, "fifo");
  EXPECT_EQ(c->log_level, "warn");
  EXPECT_TRUE(ApplyConfigJson(flags, "{}").ok());
  EXPECT_FALSE(RuntimeDiffers(flags, *ApplyConfigJson(flags, "{}")));
  EXPECT_TRUE(RuntimeDiffers(flags, *c));
}

TEST(ConfigFileTest, CamelCaseKeysAreAcceptedToo) {
  const auto c = ApplyConfigJson(Config{}, R"({"pool": {"minIdle": 0}, "acquireTimeout": "1s"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->pool_min_idle, 0);
  EXPECT_EQ(c->acquire_timeout, std::chrono::seconds(1));
}

// Each bad file is refused whole, with a message naming what is wrong.
TEST(ConfigFileTest, AnInvalidFileIsRefusedNamingTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"pool": {"max": 0}})", "pool.max"},
      {R"({"pool": {"max": 2, "min_idle": 3}})", "pool.min_idle"},
      {R"({"pool_size": 4})", "pool_size"},  // unknown key: a typo must not pass
      {R"({"acquire_timeout": "soon"})", "acquire_timeout"},
      {R"({"statement_timeout": "0ms"})", "statement_timeout"},
      {R"({"max_waiters": 0})", "max_waiters"},
      {R"({"log_level": "loud"})", "log_level"},
      {R"({"admission": {"mode": "lottery"}})", "admission.mode"},
      {R"({"admission": {"callers": {"api": {"weight": 0}}}})", "admission.callers.api.weight"},
      {R"({"admission": {"callers": {"bad name": {}}}})", "bad name"},
      {R"({"admission": {"defaults": {"max_running": -1}}})", "admission.defaults.max_running"},
      {R"({"pool": {"max": "four"}})", "max"},
      {R"({"leases": {"max_attempts": 0}})", "leases"},
      {R"({"leases": {"backoff": "1m", "backoff_max": "10s"}})", "leases"},
      {R"({"leases": {"backoff": "-1s"}})", "leases.backoff"},
      {"{not json", ""},
  };
  for (const auto& [json, named] : cases) {
    const auto c = ApplyConfigJson(Config{}, json);
    ASSERT_FALSE(c.ok()) << json;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_NE(c.status().message().find(named), std::string::npos) << json << " -> " << c.status();
  }
}

TEST(ConfigFileTest, AMissingFileIsRefused) {
  Config flags;
  flags.config_file = "/nonexistent/docgate.json";
  const auto c = WithConfigFile(flags);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("/nonexistent/docgate.json"), std::string::npos);
}

}  // namespace
}  // namespace docgate
