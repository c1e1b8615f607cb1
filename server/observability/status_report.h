#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

#include "server/observability/recent_errors.h"

namespace docgate {

// What the status page shows (GET /status, /status.json on the metrics port).
// Every figure is read from the metric families one scrape of /metrics would
// serve at that instant, so the page and /metrics cannot disagree; what metrics do
// not hold (the configuration, the last errors' messages) is given beside them.
struct StatusReport {
  struct Replica {
    std::string name;
    bool in_rotation = false;
    double replay_lag_bytes = 0;
  };
  struct Caller {
    std::string name;
    double in_flight = 0;
    double queued = 0;
    double refused_total = 0;
    double held_to_share = 0;  // callers of this label held to their share of the slots now
  };

  std::string version;
  std::string revision;
  double uptime_seconds = 0;

  bool database_up = false;   // docgate_db_up
  bool circuit_open = false;  // docgate_circuit_open
  // Where the primary is: docgate_primary_timeline, _since_timestamp_seconds and
  // _changes_total; its address, given beside (no label carries it).
  double primary_timeline = 0, primary_since_seconds = 0, primary_changes_total = 0;
  std::string primary_address;

  // The pool. `waiting`: database tasks waiting for a connection (for a slot in the
  // work queue, or in the pool itself); `longest_wait_seconds`: the oldest of them.
  double pool_max = 0, pool_busy = 0, pool_idle = 0, pool_waiting = 0, pool_longest_wait_seconds = 0;
  double pool_opened_total = 0, pool_acquire_timeouts_total = 0;
  std::map<std::string, double> pool_closed_total;  // by reason

  double waiters = 0, waiters_limit = 0;  // WaitVisible

  std::vector<Replica> replicas;
  std::vector<Caller> callers;

  bool outbox_enabled = false;  // a broker is configured
  bool broker_up = false;
  double outbox_backlog = 0, outbox_oldest_task_seconds = 0;
  double leases_active = 0;
  double leases_dead_lettered_total = 0;  // documents this instance moved to FAILED at their bound

  RecentErrors::Snapshot errors;
  std::vector<std::pair<std::string, std::string>> config;  // secrets redacted
};

// The report of `families` (as collected for /metrics) and what is given beside them.
StatusReport BuildStatusReport(const std::vector<prometheus::MetricFamily>& families, RecentErrors::Snapshot errors,
                               std::vector<std::pair<std::string, std::string>> config, bool outbox_enabled,
                               std::chrono::steady_clock::duration uptime);

// The report as JSON: numbers as numbers, keys as the HTML page's data-key attributes.
std::string StatusJson(const StatusReport& report);

// A figure as the JSON and the page's data-value attributes write it: integers
// without a fraction, others in the shortest form that reads back the same.
std::string StatusNumber(double value);
// A wall-clock time as RFC 3339 in UTC, to the second.
std::string StatusTime(std::chrono::system_clock::time_point at);

// The report as one HTML page with its style inline, no script and nothing fetched;
// it asks the browser to load it again every `refresh_seconds`.
std::string StatusHtml(const StatusReport& report, int refresh_seconds);

}  // namespace docgate
