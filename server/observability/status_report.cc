#include "server/observability/status_report.h"

#include <charconv>
#include <cmath>
#include <ctime>

#include "server/build_info.h"
#include "server/json/escape.h"
#include "server/observability/rpc_metrics.h"

namespace docgate {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;

// The samples of one collection, looked up by metric name and labels.
class Scrape {
 public:
  explicit Scrape(const std::vector<MetricFamily>& families) {
    for (const MetricFamily& family : families) by_name_.emplace(family.name, &family);
  }

  // The sum of the samples of `name` that have label `key` = `value` (every sample
  // when `key` is empty); 0 when there are none.
  double Sum(const std::string& name, const std::string& key = "", const std::string& value = "") const {
    double sum = 0;
    ForEach(name, [&](const ClientMetric& m, double v) {
      if (key.empty() || LabelOf(m, key) == value) sum += v;
    });
    return sum;
  }

  // The samples of `name` summed by their label `key`.
  std::map<std::string, double> By(const std::string& name, const std::string& key) const {
    std::map<std::string, double> out;
    ForEach(name, [&](const ClientMetric& m, double v) { out[LabelOf(m, key)] += v; });
    return out;
  }

 private:
  template <typename Visit>
  void ForEach(const std::string& name, Visit visit) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return;
    for (const ClientMetric& m : it->second->metric) {
      visit(m, it->second->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value);
    }
  }

  static std::string LabelOf(const ClientMetric& m, const std::string& key) {
    for (const auto& label : m.label) {
      if (label.name == key) return label.value;
    }
    return "";
  }

  std::map<std::string, const MetricFamily*> by_name_;
};

std::string Quoted(const std::string& text) {
  std::string out = "\"";
  json::AppendEscaped(out, text);
  return out + "\"";
}

// Builds one JSON object, member by member.
class Object {
 public:
  Object& Add(const std::string& key, const std::string& json_value) {
    text_ += (text_.size() > 1 ? "," : "") + Quoted(key) + ":" + json_value;
    return *this;
  }
  Object& Num(const std::string& key, double value) { return Add(key, StatusNumber(value)); }
  Object& Bool(const std::string& key, bool value) { return Add(key, value ? "true" : "false"); }
  Object& Text(const std::string& key, const std::string& value) { return Add(key, Quoted(value)); }
  std::string Close() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

std::string Array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (const auto& item : items) out += (out.size() > 1 ? "," : "") + item;
  return out + "]";
}

}  // namespace

std::string StatusNumber(double value) {
  if (std::trunc(value) == value && std::abs(value) < 1e15) return std::to_string(static_cast<int64_t>(value));
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, end) : "0";
}

std::string StatusTime(std::chrono::system_clock::time_point at) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

StatusReport BuildStatusReport(const std::vector<MetricFamily>& families, RecentErrors::Snapshot errors,
                               std::vector<std::pair<std::string, std::string>> config, bool outbox_enabled,
                               std::chrono::steady_clock::duration uptime) {
  const Scrape s(families);
  StatusReport r;
  r.version = kDocgateVersion;
  r.revision = kDocgateRevision;
  r.uptime_seconds = std::chrono::duration_cast<std::chrono::seconds>(uptime).count();
  r.database_up = s.Sum("docgate_db_up") > 0;
  r.circuit_open = s.Sum("docgate_circuit_open") > 0;
  r.primary_timeline = s.Sum("docgate_primary_timeline");
  r.primary_since_seconds = s.Sum("docgate_primary_since_timestamp_seconds");
  r.primary_changes_total = s.Sum("docgate_primary_changes_total");
  r.pool_max = s.Sum("docgate_pool_max_connections");
  r.pool_busy = s.Sum("docgate_pool_connections", "state", "in_use");
  r.pool_idle = s.Sum("docgate_pool_connections", "state", "idle");
  r.pool_waiting = s.Sum("docgate_caller_queued") + s.Sum("docgate_pool_pending_acquires");
  r.pool_longest_wait_seconds = s.Sum("docgate_pool_longest_wait_seconds");
  r.pool_opened_total = s.Sum("docgate_pool_connections_opened_total");
  r.pool_acquire_timeouts_total = s.Sum("docgate_pool_acquire_timeouts_total");
  r.pool_closed_total = s.By("docgate_pool_connections_closed_total", "reason");
  r.waiters = s.Sum("docgate_wait_visible_waiters");
  r.waiters_limit = s.Sum("docgate_wait_visible_max_waiters");
  const auto lag = s.By("docgate_replica_replay_lag_bytes", "replica");
  for (const auto& [name, in_rotation] : s.By("docgate_replica_in_rotation", "replica")) {
    r.replicas.push_back({name, in_rotation > 0, lag.count(name) != 0 ? lag.at(name) : 0});
  }
  const auto queued = s.By("docgate_caller_queued", "caller");
  const auto refused = s.By("docgate_caller_refused_total", "caller");
  const auto held = s.By("docgate_caller_held_to_share", "caller");
  const auto of = [](const std::map<std::string, double>& by, const std::string& name) {
    return by.count(name) != 0 ? by.at(name) : 0;
  };
  for (const auto& [name, in_flight] : s.By("docgate_caller_in_flight", "caller")) {
    r.callers.push_back({name, in_flight, of(queued, name), of(refused, name), of(held, name)});
  }
  r.outbox_enabled = outbox_enabled;
  r.broker_up = s.Sum("docgate_broker_up") > 0;
  r.outbox_backlog = s.Sum("docgate_outbox_tasks");
  r.outbox_oldest_task_seconds = s.Sum("docgate_outbox_oldest_task_seconds");
  r.leases_active = s.Sum("docgate_leases_active");
  r.leases_dead_lettered_total = s.Sum("docgate_documents_dead_lettered_total");
  r.errors = std::move(errors);
  r.config = std::move(config);
  return r;
}

std::string StatusJson(const StatusReport& r) {
  Object pool;
  pool.Num("max", r.pool_max)
      .Num("open", r.pool_busy + r.pool_idle)
      .Num("busy", r.pool_busy)
      .Num("idle", r.pool_idle)
      .Num("waiting", r.pool_waiting)
      .Num("longest_wait_seconds", r.pool_longest_wait_seconds)
      .Num("opened_total", r.pool_opened_total)
      .Num("acquire_timeouts_total", r.pool_acquire_timeouts_total);
  Object closed;
  for (const auto& [reason, n] : r.pool_closed_total) closed.Num(reason, n);
  pool.Add("closed_total", closed.Close());
  std::vector<std::string> replicas, callers, latest;
  for (const auto& replica : r.replicas) {
    replicas.push_back(Object()
                           .Text("name", replica.name)
                           .Bool("in_rotation", replica.in_rotation)
                           .Num("replay_lag_bytes", replica.replay_lag_bytes)
                           .Close());
  }
  for (const auto& caller : r.callers) {
    callers.push_back(Object()
                          .Text("name", caller.name)
                          .Num("in_flight", caller.in_flight)
                          .Num("queued", caller.queued)
                          .Num("refused_total", caller.refused_total)
                          .Num("held_to_share", caller.held_to_share)
                          .Close());
  }
  Object by_code;
  for (const auto& [code, n] : r.errors.by_code) by_code.Num(GrpcCodeName(code), static_cast<double>(n));
  for (const auto& e : r.errors.latest) {
    latest.push_back(Object()
                         .Text("time", StatusTime(e.at))
                         .Text("method", e.method)
                         .Text("code", GrpcCodeName(e.code))
                         .Text("message", e.message)
                         .Close());
  }
  Object config;
  for (const auto& [name, value] : r.config) config.Text(name, value);
  return Object()
             .Text("version", r.version)
             .Text("revision", r.revision)
             .Num("uptime_seconds", r.uptime_seconds)
             .Add("database", Object()
                                  .Bool("up", r.database_up)
                                  .Bool("circuit_open", r.circuit_open)
                                  .Add("primary", Object()
                                                      .Text("address", r.primary_address)
                                                      .Num("timeline", r.primary_timeline)
                                                      .Num("since", r.primary_since_seconds)
                                                      .Num("changes_total", r.primary_changes_total)
                                                      .Close())
                                  .Close())
             .Add("pool", pool.Close())
             .Add("waiters", Object().Num("count", r.waiters).Num("limit", r.waiters_limit).Close())
             .Add("replicas", Array(replicas))
             .Add("callers", Array(callers))
             .Add("outbox", Object()
                                .Bool("enabled", r.outbox_enabled)
                                .Bool("broker_up", r.broker_up)
                                .Num("backlog", r.outbox_backlog)
                                .Num("oldest_task_seconds", r.outbox_oldest_task_seconds)
                                .Close())
             .Add("leases", Object()
                                .Num("active", r.leases_active)
                                .Num("dead_lettered_total", r.leases_dead_lettered_total)
                                .Close())
             .Add("errors", Object()
                                .Num("window_seconds", RecentErrors::kWindow.count())
                                .Add("by_code", by_code.Close())
                                .Add("latest", Array(latest))
                                .Close())
             .Add("config", config.Close())
             .Close() +
         "\n";
}

}  // namespace docgate
