#include "server/observability/status_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/observability/recent_errors.h"
#include "server/observability/samples.h"
#include "tests/fakes/fake_clock.h"

namespace docgate {
namespace {

using prometheus::MetricType;
using testing::FakeClock;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(RecentErrorsTest, CountsByCodeWithinTheWindowAndKeepsTheLatestNewestFirst) {
  FakeClock clock;
  RecentErrors errors(clock);
  errors.Record("GetDocument", 14, "database unavailable");
  clock.Advance(std::chrono::seconds(200));
  for (int i = 0; i < 25; ++i) errors.Record("CreateDocument", 5, "no document " + std::to_string(i));
  auto now = errors.Take();
  EXPECT_EQ(now.by_code, (std::map<int, uint64_t>{{5, 25}, {14, 1}}));
  ASSERT_EQ(now.latest.size(), RecentErrors::kKept);
  EXPECT_EQ(now.latest.front().message, "no document 24");
  EXPECT_EQ(now.latest.front().code, 5);
  // The first error leaves the window, the others stay until theirs ends.
  clock.Advance(RecentErrors::kWindow - std::chrono::seconds(200) + RecentErrors::kSlot);
  EXPECT_EQ(errors.Take().by_code, (std::map<int, uint64_t>{{5, 25}}));
  clock.Advance(std::chrono::seconds(200));
  EXPECT_TRUE(errors.Take().by_code.empty());
  EXPECT_EQ(errors.Take().latest.size(), RecentErrors::kKept);  // the last ones stay to be read
}

TEST(RecentErrorsTest, CutsLongMessagesAndCountsAnUnknownCodeAsUnknown) {
  FakeClock clock;
  RecentErrors errors(clock);
  errors.Record("GetDocument", 99, std::string(1000, 'x'));
  auto now = errors.Take();
  EXPECT_EQ(now.by_code, (std::map<int, uint64_t>{{2, 1}}));
  EXPECT_EQ(now.latest.front().message.size(), RecentErrors::kMessageChars);
}

std::vector<prometheus::MetricFamily> Families(bool db_up) {
  const auto gauge = [](double v, std::vector<prometheus::ClientMetric::Label> labels = {}) {
    return Sample(v, MetricType::Gauge, std::move(labels));
  };
  const auto counter = [](double v, std::vector<prometheus::ClientMetric::Label> labels = {}) {
    return Sample(v, MetricType::Counter, std::move(labels));
  };
  return {
      Family("docgate_db_up", "", MetricType::Gauge, {gauge(db_up ? 1 : 0)}),
      Family("docgate_circuit_open", "", MetricType::Gauge, {gauge(db_up ? 0 : 1)}),
      Family("docgate_pool_max_connections", "", MetricType::Gauge, {gauge(8)}),
      Family("docgate_pool_connections", "", MetricType::Gauge,
             {gauge(3, {{"state", "in_use"}}), gauge(2, {{"state", "idle"}})}),
      Family("docgate_pool_pending_acquires", "", MetricType::Gauge, {gauge(1)}),
      Family("docgate_caller_queued", "", MetricType::Gauge,
             {gauge(4, {{"caller", "api"}}), gauge(5, {{"caller", "<batch>"}})}),
      Family("docgate_caller_in_flight", "", MetricType::Gauge,
             {gauge(2, {{"caller", "api"}}), gauge(1, {{"caller", "<batch>"}})}),
      Family("docgate_caller_refused_total", "", MetricType::Counter,
             {counter(6, {{"caller", "api"}, {"reason", "queue_full"}}),
              counter(1, {{"caller", "api"}, {"reason", "queue_wait"}})}),
      Family("docgate_pool_longest_wait_seconds", "", MetricType::Gauge, {gauge(0.25)}),
      Family("docgate_pool_connections_closed_total", "", MetricType::Counter,
             {counter(7, {{"reason", "broken"}}), counter(0, {{"reason", "shutdown"}})}),
      Family("docgate_wait_visible_waiters", "", MetricType::Gauge, {gauge(90)}),
      Family("docgate_wait_visible_max_waiters", "", MetricType::Gauge, {gauge(100)}),
      Family("docgate_replica_in_rotation", "", MetricType::Gauge, {gauge(0, {{"replica", "db-2:5432"}})}),
      Family("docgate_replica_replay_lag_bytes", "", MetricType::Gauge, {gauge(123456, {{"replica", "db-2:5432"}})}),
      Family("docgate_outbox_tasks", "", MetricType::Gauge, {gauge(12)}),
      Family("docgate_primary_timeline", "", MetricType::Gauge, {gauge(3)}),
      Family("docgate_primary_since_timestamp_seconds", "", MetricType::Gauge, {gauge(1796558400)}),
      Family("docgate_primary_changes_total", "", MetricType::Counter, {counter(2)}),
  };
}

StatusReport Report(bool db_up) {
  FakeClock clock;
  RecentErrors errors(clock);
  errors.Record("GetDocument", 14, "database <unavailable>");
  return BuildStatusReport(Families(db_up), errors.Take(), {{"database-url", "host=db password='****'"}},
                           /*outbox_enabled=*/true, std::chrono::seconds(3725));
}

StatusReport ReportWithPrimary() {
  StatusReport r = Report(true);
  r.primary_address = "pg-b:5432";
  return r;
}

TEST(StatusReportTest, ReadsEveryFigureFromTheMetricFamilies) {
  const StatusReport r = Report(true);
  EXPECT_TRUE(r.database_up);
  EXPECT_FALSE(r.circuit_open);
  EXPECT_EQ(r.pool_max, 8);
  EXPECT_EQ(r.pool_busy, 3);
  EXPECT_EQ(r.pool_idle, 2);
  EXPECT_EQ(r.pool_waiting, 10);  // queued for a slot + waiting in the pool
  EXPECT_EQ(r.pool_longest_wait_seconds, 0.25);
  EXPECT_EQ(r.pool_closed_total, (std::map<std::string, double>{{"broken", 7}, {"shutdown", 0}}));
  EXPECT_EQ(r.waiters, 90);
  EXPECT_EQ(r.waiters_limit, 100);
  ASSERT_EQ(r.replicas.size(), 1u);
  EXPECT_FALSE(r.replicas[0].in_rotation);
  EXPECT_EQ(r.replicas[0].replay_lag_bytes, 123456);
  ASSERT_EQ(r.callers.size(), 2u);
  EXPECT_EQ(r.callers[1].name, "api");
  EXPECT_EQ(r.callers[1].refused_total, 7);
  EXPECT_EQ(r.outbox_backlog, 12);
  EXPECT_EQ(r.primary_timeline, 3);
  EXPECT_EQ(r.primary_since_seconds, 1796558400);
  EXPECT_EQ(r.primary_changes_total, 2);
  EXPECT_EQ(r.uptime_seconds, 3725);
}

TEST(StatusReportTest, JsonHasEveryFigureUnderItsKey) {
  const std::string json = StatusJson(ReportWithPrimary());
  for (const char* part :
       {R"("database":{"up":true,"circuit_open":false,"primary":{"address":"pg-b:5432","timeline":3,)"
        R"("since":1796558400,"changes_total":2}})",
        R"("open":5,"busy":3,"idle":2)", R"("longest_wait_seconds":0.25)", R"("waiters":{"count":90,"limit":100})",
        R"({"name":"db-2:5432","in_rotation":false,"replay_lag_bytes":123456})", R"("by_code":{"Unavailable":1})",
        R"("message":"database <unavailable>")", R"("database-url":"host=db password='****'")"}) {
    EXPECT_THAT(json, HasSubstr(part));
  }
}

TEST(StatusReportTest, HtmlSaysWhereThePrimaryIsAndSinceWhenAMoveWarns) {
  const std::string html = StatusHtml(ReportWithPrimary(), 5);
  EXPECT_THAT(html, HasSubstr(R"(data-key="database.primary.timeline" data-value="3">pg-b:5432, timeline 3<)"));
  EXPECT_THAT(html, HasSubstr(R"(data-key="database.primary.since" data-value="1796558400">2026-12-06T12:00:00Z<)"));
  EXPECT_THAT(html, HasSubstr(R"(class="warn" data-key="database.primary.changes_total" data-value="2">)"));
  StatusReport unknown = Report(false);
  unknown.primary_timeline = 0;
  EXPECT_THAT(StatusHtml(unknown, 5), HasSubstr(">not found yet<"));
}

TEST(StatusReportTest, HtmlShowsTheFiguresEscapedAndTheDatabaseState) {
  const std::string up = StatusHtml(Report(true), 5);
  EXPECT_THAT(up, HasSubstr(R"(<meta http-equiv="refresh" content="5">)"));
  EXPECT_THAT(up, HasSubstr(R"(data-key="pool.busy" data-value="3")"));
  EXPECT_THAT(up, HasSubstr(R"(data-key="callers.&lt;batch&gt;.queued" data-value="5")"));
  EXPECT_THAT(up, HasSubstr("database &lt;unavailable&gt;"));
  EXPECT_THAT(up, HasSubstr("up 0d 01h 02m"));
  EXPECT_THAT(up, HasSubstr("Database reachable"));
  EXPECT_THAT(up, Not(HasSubstr("<script")));
  EXPECT_THAT(up, Not(HasSubstr("src=")));  // nothing fetched from elsewhere
  const std::string down = StatusHtml(Report(false), 5);
  EXPECT_THAT(down, HasSubstr("Database unreachable &mdash; circuit open"));
  EXPECT_THAT(down, HasSubstr(R"(class="bad" data-key="database.up" data-value="0")"));
}

TEST(StatusReportTest, NumbersAreExactAndIntegersHaveNoFraction) {
  EXPECT_EQ(StatusNumber(100000), "100000");
  EXPECT_EQ(StatusNumber(0.1), "0.1");
  EXPECT_EQ(StatusNumber(1e20), "1e+20");
  EXPECT_EQ(StatusNumber(-3), "-3");
}

}  // namespace
}  // namespace docgate
