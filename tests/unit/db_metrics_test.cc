#include "server/observability/db_metrics.h"

#include <gtest/gtest.h>

namespace docgate {
namespace {

// The value of a counter sample of `family` with the given sqlstate_class, or -1.
double ErrorCount(prometheus::Registry& registry, const std::string& cls) {
  for (const auto& family : registry.Collect()) {
    if (family.name != "docgate_db_errors_total") continue;
    for (const auto& metric : family.metric) {
      if (!metric.label.empty() && metric.label[0].value == cls) return metric.counter.value;
    }
  }
  return -1;
}

TEST(DbMetrics, CountsStatementFailuresByTheirSqlStateClass) {
  prometheus::Registry registry;
  DbMetrics metrics(registry);
  EXPECT_EQ(ErrorCount(registry, "57"), 0) << "the classes worth alerting on exist from the start";
  EXPECT_EQ(ErrorCount(registry, "08"), 0);
  metrics.StatementFailed("57014");
  metrics.StatementFailed("57P01");
  metrics.StatementFailed("23505");
  metrics.StatementFailed("not a sqlstate");
  EXPECT_EQ(ErrorCount(registry, "57"), 2);
  EXPECT_EQ(ErrorCount(registry, "23"), 1);
  EXPECT_EQ(ErrorCount(registry, "XX"), 1) << "anything else lands in one bounded label";
}

TEST(DbMetrics, AcquireTimeoutsAreCountedAndEveryWaitObserved) {
  prometheus::Registry registry;
  DbMetrics metrics(registry);
  metrics.AcquireEnded(std::chrono::milliseconds(2), false);
  metrics.AcquireEnded(std::chrono::seconds(5), true);
  const prometheus::MetricFamily* timeouts = nullptr;
  const prometheus::MetricFamily* waits = nullptr;
  const auto families = registry.Collect();
  for (const auto& family : families) {
    if (family.name == "docgate_pool_acquire_timeouts_total") timeouts = &family;
    if (family.name == "docgate_pool_acquire_seconds") waits = &family;
  }
  // Both families must exist: a renamed metric fails here instead of skipping the checks.
  ASSERT_NE(timeouts, nullptr);
  ASSERT_NE(waits, nullptr);
  EXPECT_EQ(timeouts->metric.at(0).counter.value, 1);
  EXPECT_EQ(waits->metric.at(0).histogram.sample_count, 2u);
  EXPECT_NEAR(waits->metric.at(0).histogram.sample_sum, 5.002, 1e-9);
}

}  // namespace
}  // namespace docgate
