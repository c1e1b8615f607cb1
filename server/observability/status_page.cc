// StatusHtml: the status page an operator opens first.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/observability/rpc_metrics.h"
#include "server/observability/status_report.h"

namespace docgate {
namespace {

std::string Escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Seconds(double s) { return s < 1 ? absl::StrFormat("%.1f ms", s * 1000) : absl::StrFormat("%.2f s", s); }

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  if (s < 3600) return absl::StrFormat("%dm %02ds", s / 60, s % 60);
  return absl::StrFormat("%dd %02dh %02dm", s / 86400, s / 3600 % 24, s / 60 % 60);
}

// One figure: `key` names it as status.json does; `value` is exact (data-value),
// `shown` is for people.
std::string Figure(const std::string& label, const std::string& key, double value, const std::string& shown,
                   const char* state = "") {
  return absl::StrCat("<tr><th>", Escaped(label), "</th><td class=\"", state, "\" data-key=\"", Escaped(key),
                      "\" data-value=\"", StatusNumber(value), "\">", Escaped(shown), "</td></tr>\n");
}
std::string Figure(const std::string& label, const std::string& key, double value) {
  return Figure(label, key, value, StatusNumber(value));
}
std::string Flag(const std::string& label, const std::string& key, bool value, const char* yes, const char* no,
                 bool good) {
  return Figure(label, key, value ? 1 : 0, value ? yes : no, value == good ? "good" : "bad");
}

// Where the primary is and since when; a move since start-up is a failover or
// switchover, shown as a warning.
std::string PrimaryRows(const StatusReport& r) {
  if (r.primary_timeline == 0) return Figure("primary", "database.primary.timeline", 0, "not found yet");
  const auto since =
      std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::duration<double>(r.primary_since_seconds)));
  return absl::StrCat(Figure("primary", "database.primary.timeline", r.primary_timeline,
                             absl::StrCat(r.primary_address, ", timeline ", StatusNumber(r.primary_timeline))),
                      Figure("primary since", "database.primary.since", r.primary_since_seconds, StatusTime(since)),
                      Figure("primary moves", "database.primary.changes_total", r.primary_changes_total,
                             StatusNumber(r.primary_changes_total), r.primary_changes_total > 0 ? "warn" : ""));
}

std::string Section(const std::string& title, const std::string& rows) {
  return absl::StrCat("<section><h2>", Escaped(title), "</h2><table>\n", rows, "</table></section>\n");
}

std::string Banner(const StatusReport& r) {
  if (r.database_up) return "<p class=\"banner good\" id=\"database\">Database reachable</p>\n";
  return absl::StrCat("<p class=\"banner bad\" id=\"database\">Database unreachable",
                      r.circuit_open ? " &mdash; circuit open: calls fail fast with UNAVAILABLE" : "", "</p>\n");
}

std::string PoolRows(const StatusReport& r) {
  std::string rows = absl::StrCat(
      Figure("open", "pool.open", r.pool_busy + r.pool_idle,
             absl::StrCat(StatusNumber(r.pool_busy + r.pool_idle), " of ", StatusNumber(r.pool_max))),
      Figure("max", "pool.max", r.pool_max), Figure("busy", "pool.busy", r.pool_busy),
      Figure("idle", "pool.idle", r.pool_idle),
      Figure("waiting", "pool.waiting", r.pool_waiting, StatusNumber(r.pool_waiting), r.pool_waiting > 0 ? "warn" : ""),
      Figure("longest current wait", "pool.longest_wait_seconds", r.pool_longest_wait_seconds,
             Seconds(r.pool_longest_wait_seconds)),
      Figure("opened (total)", "pool.opened_total", r.pool_opened_total),
      Figure("acquire timeouts (total)", "pool.acquire_timeouts_total", r.pool_acquire_timeouts_total));
  for (const auto& [reason, n] : r.pool_closed_total) {
    absl::StrAppend(&rows, Figure("closed: " + reason, "pool.closed_total." + reason, n));
  }
  return rows;
}

std::string ReplicaRows(const StatusReport& r) {
  if (r.replicas.empty()) return "<tr><td>none configured</td></tr>\n";
  std::string rows;
  for (const auto& replica : r.replicas) {
    const std::string key = "replicas." + replica.name;
    absl::StrAppend(&rows,
                    Flag(replica.name + " in rotation", key + ".in_rotation", replica.in_rotation, "yes", "no", true),
                    Figure(replica.name + " replay lag", key + ".replay_lag_bytes", replica.replay_lag_bytes,
                           StatusNumber(replica.replay_lag_bytes) + " B"));
  }
  return rows;
}

std::string CallerTable(const StatusReport& r) {
  std::string rows =
      "<tr><th>caller</th><th>running</th><th>queued</th><th>refused (total)</th><th>held to its share</th></tr>\n";
  for (const auto& c : r.callers) {
    const std::string key = "callers." + c.name;
    const auto cell = [&](const char* what, double v) {
      return absl::StrCat("<td data-key=\"", Escaped(key), ".", what, "\" data-value=\"", StatusNumber(v), "\">",
                          StatusNumber(v), "</td>");
    };
    absl::StrAppend(&rows, "<tr><th>", Escaped(c.name), "</th>", cell("in_flight", c.in_flight),
                    cell("queued", c.queued), cell("refused_total", c.refused_total),
                    cell("held_to_share", c.held_to_share), "</tr>\n");
  }
  return absl::StrCat("<section><h2>Callers (admission)</h2><table>\n", rows, "</table></section>\n");
}

std::string OutboxRows(const StatusReport& r) {
  std::string rows = "<tr><th>broker</th><td>none configured</td></tr>\n";
  if (r.outbox_enabled) {
    rows = absl::StrCat(Flag("broker", "outbox.broker_up", r.broker_up, "up", "down", true),
                        Figure("backlog (tasks)", "outbox.backlog", r.outbox_backlog),
                        Figure("oldest task", "outbox.oldest_task_seconds", r.outbox_oldest_task_seconds,
                               Seconds(r.outbox_oldest_task_seconds)));
  }
  return absl::StrCat(rows, Figure("leases held", "leases.active", r.leases_active),
                      Figure("documents dead-lettered (lease ran out at their bound of attempts)",
                             "leases.dead_lettered_total", r.leases_dead_lettered_total));
}

std::string ErrorRows(const StatusReport& r) {
  std::string rows;
  for (const auto& [code, n] : r.errors.by_code) {
    absl::StrAppend(
        &rows, Figure(GrpcCodeName(code), absl::StrCat("errors.by_code.", GrpcCodeName(code)), static_cast<double>(n)));
  }
  if (rows.empty()) rows = "<tr><td>none</td></tr>\n";
  std::string latest = "<tr><th>time (UTC)</th><th>method</th><th>code</th><th>message</th></tr>\n";
  for (const auto& e : r.errors.latest) {
    absl::StrAppend(&latest, "<tr><td>", StatusTime(e.at), "</td><td>", Escaped(e.method), "</td><td>",
                    GrpcCodeName(e.code), "</td><td class=\"message\">", Escaped(e.message), "</td></tr>\n");
  }
  return absl::StrCat("<section><h2>Errors, last ", RecentErrors::kWindow.count() / 60, " minutes</h2><table>\n", rows,
                      "</table><h3>Latest</h3><table class=\"wide\">\n", latest, "</table></section>\n");
}

std::string ConfigRows(const StatusReport& r) {
  std::string rows;
  for (const auto& [name, value] : r.config) {
    absl::StrAppend(&rows, "<tr><th>", Escaped(name), "</th><td class=\"message\">", Escaped(value), "</td></tr>\n");
  }
  return rows;
}

constexpr char kStyle[] = R"(
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1b1b;background:#fafafa}
h1{margin:0 0 .2em}h2{font-size:1.05em;margin:0 0 .4em}h3{font-size:.95em}
header p{margin:0;color:#555}
.banner{padding:.6em 1em;border-radius:4px;font-weight:600}
.banner.good{background:#dff3e4;color:#185c2c}.banner.bad{background:#fbe0e0;color:#8a1111}
main{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
section{background:#fff;border:1px solid #ddd;border-radius:4px;padding:.8em 1em;min-width:18em}
table{border-collapse:collapse}th,td{text-align:left;padding:.15em .8em .15em 0;vertical-align:top}
th{font-weight:500;color:#444}td{font-variant-numeric:tabular-nums}
td.good{color:#185c2c}td.bad{color:#8a1111;font-weight:600}td.warn{color:#8a5a00;font-weight:600}
td.message{font-family:ui-monospace,monospace;font-size:.9em;word-break:break-all;max-width:40em}
)";

}  // namespace

std::string StatusHtml(const StatusReport& r, int refresh_seconds) {
  return absl::StrCat(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"",
      refresh_seconds, "\">\n<title>docgate status</title><style>", kStyle, "</style></head><body>\n",
      "<header><h1>docgate</h1><p>version ", Escaped(r.version), " (", Escaped(r.revision), ") &middot; up ",
      Duration(r.uptime_seconds), " &middot; refreshes every ", refresh_seconds,
      " s &middot; <a href=\"status.json\">JSON</a> &middot; <a href=\"metrics\">metrics</a></p></header>\n", Banner(r),
      "<main>\n",
      Section("Database", absl::StrCat(Flag("reachable", "database.up", r.database_up, "yes", "no", true),
                                       Flag("circuit", "database.circuit_open", r.circuit_open, "open (failing fast)",
                                            "closed", false),
                                       PrimaryRows(r))),
      Section("Pool", PoolRows(r)),
      Section("WaitVisible waiters",
              absl::StrCat(Figure("waiting", "waiters.count", r.waiters,
                                  absl::StrCat(StatusNumber(r.waiters), " of ", StatusNumber(r.waiters_limit)),
                                  r.waiters >= 0.8 * r.waiters_limit && r.waiters_limit > 0 ? "warn" : ""),
                           Figure("limit", "waiters.limit", r.waiters_limit))),
      Section("Replicas", ReplicaRows(r)), CallerTable(r), Section("Outbox and leases", OutboxRows(r)), ErrorRows(r),
      Section("Configuration in effect (secrets redacted)", ConfigRows(r)), "</main></body></html>\n");
}

}  // namespace docgate
