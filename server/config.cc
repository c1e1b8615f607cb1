#include "server/config.h"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/db/connection_settings.h"

namespace docgate {
namespace {

// One configurable option: how to read it from text and how to show it.
struct Option {
  std::string name;  // flag name without "--"
  std::string help;
  std::function<absl::Status(Config&, const std::string&)> set;
  std::function<std::string(const Config&)> show;
  // A list: each flag adds one value (the first replaces the environment's), and
  // the environment variable `env` holds them all, space-separated.
  std::function<void(Config&)> clear;
  std::string env;
};

std::string EnvName(const Option& option) {
  if (!option.env.empty()) return option.env;
  std::string env = "DOCGATE_";
  for (char c : option.name) env += (c == '-') ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

std::string ShowDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return absl::StrCat(d.count() / 1000, "s");
  return absl::StrCat(d.count(), "ms");
}

Option Text(std::string name, std::string help, std::string Config::*field) {
  return {name,
          help,
          [field](Config& c, const std::string& v) {
            c.*field = v;
            return absl::OkStatus();
          },
          [field](const Config& c) { return c.*field; },
          nullptr,
          ""};
}

template <typename Int>
absl::Status ParseInt(const std::string& name, const std::string& v, int64_t min, Int* out) {
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(v, &parsed) || parsed < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, ": expected a whole number >= ", min, ", got '", v, "'"));
  }
  *out = static_cast<Int>(parsed);
  return absl::OkStatus();
}

// A whole-number flag (int or int64_t) of at least `min`.
template <typename Int>
Option Whole(std::string name, std::string help, Int Config::*field, int64_t min) {
  return {name,
          help,
          [name, field, min](Config& c, const std::string& v) { return ParseInt(name, v, min, &(c.*field)); },
          [field](const Config& c) { return std::to_string(c.*field); },
          nullptr,
          ""};
}

Option Limit(std::string name, std::string help, int64_t Limits::*field) {
  return {name,
          help,
          [name, field](Config& c, const std::string& v) { return ParseInt(name, v, 0, &(c.limits.*field)); },
          [field](const Config& c) { return std::to_string(c.limits.*field); },
          nullptr,
          ""};
}

Option Duration(std::string name, std::string help, std::chrono::milliseconds Config::*field) {
  return {name,
          help,
          [name, field](Config& c, const std::string& v) -> absl::Status {
            auto d = ParseDuration(v);
            if (!d.ok()) return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", d.status().message()));
            c.*field = *d;
            return absl::OkStatus();
          },
          [field](const Config& c) { return ShowDuration(c.*field); },
          nullptr,
          ""};
}

Option Bool(std::string name, std::string help, bool Config::*field) {
  return {name,
          help,
          [name, field](Config& c, const std::string& v) -> absl::Status {
            if (v == "true" || v == "1" || v == "yes") {
              c.*field = true;
            } else if (v == "false" || v == "0" || v == "no") {
              c.*field = false;
            } else {
              return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected true or false, got '", v, "'"));
            }
            return absl::OkStatus();
          },
          [field](const Config& c) { return std::string(c.*field ? "true" : "false"); },
          nullptr,
          ""};
}

Option OneOf(std::string name, std::string help, std::string Config::*field, std::vector<std::string> allowed) {
  return {name,
          help,
          [name, field, allowed](Config& c, const std::string& v) -> absl::Status {
            if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
              std::string list;
              for (const auto& a : allowed) absl::StrAppend(&list, list.empty() ? "" : "|", a);
              return absl::InvalidArgumentError(absl::StrCat("--", name, ": expected ", list, ", got '", v, "'"));
            }
            c.*field = v;
            return absl::OkStatus();
          },
          [field](const Config& c) { return c.*field; },
          nullptr,
          ""};
}

// Each value shown redacted: connection strings may hold passwords.
Option ConnectionList(std::string name, std::string help, std::string env, std::vector<std::string> Config::*field) {
  return {name,
          help,
          [field](Config& c, const std::string& v) {
            (c.*field).push_back(v);
            return absl::OkStatus();
          },
          [field](const Config& c) {
            std::string shown;
            for (const auto& url : c.*field)
              absl::StrAppend(&shown, shown.empty() ? "" : " ", db::RedactConnectionString(url));
            return shown;
          },
          [field](Config& c) { (c.*field).clear(); },
          env};
}

const std::vector<Option>& Options() {
  static const auto* options = new std::vector<Option>{
      Text("listen", "gRPC listen address", &Config::listen),
      Text("health-listen", "plaintext gRPC health address for probes, served while TLS is on (empty: off)",
           &Config::health_listen),
      Text("tls-cert", "PEM certificate chain of the gRPC port (with --tls-key: TLS on)", &Config::tls_cert),
      Text("tls-key", "PEM private key of --tls-cert", &Config::tls_key),
      Text("tls-client-ca", "PEM CA that client certificates must chain to (mutual TLS)", &Config::tls_client_ca),
      Text("auth-tokens-file", "bearer tokens clients must send: lines of NAME SHA256-HEX read,write (empty: none)",
           &Config::auth_tokens_file),
      Duration("credentials-reload-interval", "how often the TLS files and the tokens file are re-read",
               &Config::credentials_reload_interval),
      Whole("max-concurrent-streams", "calls one client connection may have open at once",
            &Config::max_concurrent_streams, 1),
      Text("metrics-listen", "Prometheus /metrics address (empty: off)", &Config::metrics_listen),
      Text("database-url", "libpq URI or key=value string (else DATABASE_URL, else PG* variables)",
           &Config::database_url),
      Text("database-password-file", "file holding the database password, read at every connect",
           &Config::database_password_file),
      Whole("pool-max", "largest number of PostgreSQL connections", &Config::pool_max, 1),
      Whole("pool-min-idle", "connections kept open while idle", &Config::pool_min_idle, 0),
      Duration("pool-max-lifetime", "connections are replaced once this old (0s: never)", &Config::pool_max_lifetime),
      Duration("pool-idle-timeout", "idle connections beyond --pool-min-idle close after this (0s: never)",
               &Config::pool_idle_timeout),
      Duration("acquire-timeout", "longest wait for a connection before UNAVAILABLE", &Config::acquire_timeout),
      Duration("statement-timeout", "longest a statement may run, whatever the call's deadline",
               &Config::statement_timeout),
      OneOf("admission", "how database work is shared between callers (fifo: first come, first served)",
            &Config::admission, {"fair", "fifo"}),
      Duration("max-queue-wait", "work waiting this long for a slot while others run gets UNAVAILABLE (0s: off)",
               &Config::max_queue_wait),
      Bool("share-cap",
           "while several callers are active, none holds the slots the others keep back for their recent demand",
           &Config::share_cap),
      Text("config", "JSON file of what may change at run time, re-read on SIGHUP and when it changes (empty: none)",
           &Config::config_file),
      Whole("pool-queue-max", "requests waiting for a connection beyond this get UNAVAILABLE", &Config::pool_queue_max,
            1),
      Duration("connect-timeout", "libpq connect_timeout", &Config::connect_timeout),
      Duration("max-wait", "longest WaitVisible wait, whatever the call's deadline", &Config::max_wait),
      Whole("max-waiters", "WaitVisible calls waiting at once beyond this get RESOURCE_EXHAUSTED", &Config::max_waiters,
            1),
      Duration("visibility-tick",
               "how often waiters are checked against commits of others (and replicas polled while reads wait)",
               &Config::visibility_tick),
      ConnectionList("replica-url", "a read replica's libpq URI or key=value string (repeatable)",
                     "DOCGATE_REPLICA_URLS", &Config::replica_urls),
      Whole("max-replica-lag-bytes", "a replica further behind the primary (WAL bytes) leaves rotation",
            &Config::max_replica_lag_bytes, 0),
      Duration("replica-wait-max", "longest wait for a replica to replay a token before reading the primary",
               &Config::replica_wait_max),
      Bool("auto-migrate", "apply schema migrations at start", &Config::auto_migrate),
      Text("broker-url", "Celery broker for enqueued tasks: redis://[:PASSWORD@]HOST[:PORT][/DB] (empty: none)",
           &Config::broker_url),
      Text("broker-password-file", "file holding the broker password", &Config::broker_password_file),
      Duration("outbox-poll-interval", "how often the outbox is looked at besides after own commits",
               &Config::outbox_poll_interval),
      Duration("lease-check-interval", "how often leases that ran out are looked for (how late an expiry may be)",
               &Config::lease_check_interval),
      Whole("lease-max-attempts", "the lease expiry that reaches this count moves a document to FAILED",
            &Config::lease_max_attempts, 1),
      Duration("lease-backoff", "delay of the tasks enqueued again after a first lease expiry (doubling after each)",
               &Config::lease_backoff),
      Duration("lease-backoff-max", "longest delay of tasks enqueued again after a lease expiry",
               &Config::lease_backoff_max),
      Duration("shutdown-grace", "time in-flight RPCs get to finish after SIGTERM", &Config::shutdown_grace),
      OneOf("log-format", "log line format", &Config::log_format, {"text", "json"}),
      OneOf("log-level", "least severe level logged", &Config::log_level,
            {"trace", "debug", "info", "warn", "error", "critical", "off"}),
      Limit("max-name-bytes", "largest document name", &Limits::max_name_bytes),
      Limit("max-source-uri-bytes", "largest source_uri", &Limits::max_source_uri_bytes),
      Limit("max-content-type-bytes", "largest content_type", &Limits::max_content_type_bytes),
      Limit("max-status-detail-bytes", "largest status_detail", &Limits::max_status_detail_bytes),
      Limit("max-attributes", "most attributes per document", &Limits::max_attributes),
      Limit("max-attributes-bytes", "largest attributes, keys plus values", &Limits::max_attributes_bytes),
      Limit("max-body-bytes", "largest body (the gRPC receive limit follows it)", &Limits::max_body_bytes),
  };
  return *options;
}

// scheme://USER:PASSWORD@host... -> scheme://***@host...
std::string RedactUserInfo(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.rfind('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  return url.substr(0, scheme + 3) + "***@" + url.substr(at + 1);
}

const Option* FindOption(const std::string& name) {
  for (const auto& o : Options()) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  static const std::pair<const char*, int64_t> kUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
  for (const auto& [suffix, factor] : kUnits) {
    const std::string s = suffix;
    if (text.size() > s.size() && text.compare(text.size() - s.size(), s.size(), s) == 0) {
      const std::string digits = text.substr(0, text.size() - s.size());
      int64_t n = 0;
      const bool all_digits = std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (all_digits && absl::SimpleAtoi(digits, &n)) {
        return std::chrono::milliseconds(n * factor);
      }
      break;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("expected a duration such as 250ms, 5s or 2m, got '", text, "'"));
}

absl::StatusOr<Invocation> LoadConfig(const std::map<std::string, std::string>& env,
                                      const std::vector<std::string>& args) {
  Invocation inv;
  // The environment first, so that flags override it.
  if (auto it = env.find("DATABASE_URL"); it != env.end()) inv.config.database_url = it->second;
  for (const auto& o : Options()) {
    auto it = env.find(EnvName(o));
    if (it == env.end()) continue;
    std::vector<std::string> values = {it->second};
    if (o.clear) values = absl::StrSplit(it->second, absl::ByAnyChar(" \t\n"), absl::SkipEmpty());
    for (const auto& v : values) {
      if (auto s = o.set(inv.config, v); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(EnvName(o), ": ", s.message()));
      }
    }
  }
  std::set<std::string> flagged_lists;  // lists given by flag: the environment's value is replaced
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      inv.command = Command::kHelp;
      continue;
    }
    if (arg == "--check-config") {
      inv.command = Command::kCheckConfig;
      continue;
    }
    if (arg == "--version") {
      inv.command = Command::kVersion;
      continue;
    }
    if (arg == "migrate" && i == 0) {
      inv.command = Command::kMigrate;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg, "' (see --help)"));
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const Option* option = FindOption(name);
    if (option == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      value = args[++i];
    }
    if (option->clear && flagged_lists.insert(option->name).second) option->clear(inv.config);
    if (auto s = option->set(inv.config, value); !s.ok()) return s;
  }
  if (inv.config.pool_min_idle > inv.config.pool_max) {
    return absl::InvalidArgumentError("--pool-min-idle must not exceed --pool-max");
  }
  if (inv.config.tls_cert.empty() != inv.config.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls-cert and --tls-key go together: give both, or neither");
  }
  if (!inv.config.tls_client_ca.empty() && inv.config.tls_cert.empty()) {
    return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)");
  }
  if (inv.config.lease_check_interval < std::chrono::milliseconds(10)) {
    return absl::InvalidArgumentError("--lease-check-interval must be at least 10ms");
  }
  if (auto problem = leases::PolicyProblem(RedeliveryPolicyOf(inv.config)); !problem.empty()) {
    return absl::InvalidArgumentError("--lease-max-attempts, --lease-backoff, --lease-backoff-max: " + problem);
  }
  if (inv.config.statement_timeout < std::chrono::milliseconds(1)) {
    return absl::InvalidArgumentError("--statement-timeout must be at least 1ms");
  }
  if (inv.config.credentials_reload_interval < std::chrono::seconds(1)) {
    return absl::InvalidArgumentError("--credentials-reload-interval must be at least 1s");
  }
  return inv;
}

leases::RedeliveryPolicy RedeliveryPolicyOf(const Config& config) {
  return leases::RedeliveryPolicy{config.lease_max_attempts, config.lease_backoff, config.lease_backoff_max};
}

std::string HelpText() {
  const Config defaults;
  std::ostringstream out;
  out << "usage: docgate [migrate] [--flag=value ...] [--check-config] [--version] [--help]\n\n"
      << "  migrate          apply schema migrations and exit\n"
      << "  --check-config   print the effective configuration (secrets redacted) and exit\n\n"
      << "Every flag may also come from its environment variable; a flag wins.\n"
      << "The database may also come from DATABASE_URL or libpq's PG* variables.\n\n";
  for (const auto& o : Options()) {
    out << "  --" << o.name << "\n      " << o.help << "\n      env " << EnvName(o) << ", default '" << o.show(defaults)
        << "'\n";
  }
  return out.str();
}

std::vector<std::pair<std::string, std::string>> ConfigInEffect(const Config& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& o : Options()) {
    std::string value = o.show(config);
    if (o.name == "database-url") value = db::RedactConnectionString(value);
    if (o.name == "broker-url") value = RedactUserInfo(value);
    out.emplace_back(o.name, std::move(value));
  }
  const auto show = [&out](const std::string& name, const CallerShare& s) {
    out.emplace_back(name,
                     absl::StrCat("weight=", s.weight, " max_running=", s.max_running, " max_queued=", s.max_queued));
  };
  show("caller-defaults", config.caller_defaults);
  for (const auto& [name, share] : config.callers) show("caller." + name, share);
  return out;
}

std::string DescribeConfig(const Config& config) {
  std::string out;
  for (const auto& [name, value] : ConfigInEffect(config)) absl::StrAppend(&out, name, " = ", value, "\n");
  return out;
}

AdmissionPolicy AdmissionPolicyOf(const Config& config) {
  AdmissionPolicy policy;
  policy.fair = config.admission == "fair";
  policy.max_queue_wait = config.max_queue_wait;
  policy.share_cap = config.share_cap;
  policy.default_share = config.caller_defaults;
  policy.callers = config.callers;
  return policy;
}

}  // namespace docgate
