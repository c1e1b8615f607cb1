#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/exec/admission_policy.h"
#include "server/leases/redelivery_policy.h"

namespace docgate {

// Field limits of SPEC "API"; a value beyond one is INVALID_ARGUMENT naming the field.
// The defaults are the API's own, stated once in docgate.proto as each field's
// (docgate.v1.default_max) option: the default constructor reads them there.
struct Limits {
  Limits();

  int64_t max_name_bytes;
  int64_t max_source_uri_bytes;
  int64_t max_content_type_bytes;
  int64_t max_status_detail_bytes;
  int64_t max_attributes;
  int64_t max_attributes_bytes;  // keys plus values
  int64_t max_body_bytes;
};

// The effective configuration. Each field: flag `--kebab-name`, environment
// `DOCGATE_KEBAB_NAME` (upper case, '_' for '-'); a flag wins over the environment.
struct Config {
  // gRPC listen address.
  std::string listen = "0.0.0.0:50051";
  // Plaintext gRPC health (grpc.health.v1 only) for probes, served while TLS is on:
  // Kubernetes' gRPC probes cannot speak TLS. Empty turns it off.
  std::string health_listen = "0.0.0.0:50052";
  // TLS for the gRPC port: PEM certificate chain and key (both or neither), and for
  // mutual TLS the CA that client certificates must chain to.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;
  // Bearer tokens clients must send (see security/token_file.h); empty: none asked.
  std::string auth_tokens_file;
  // How often the TLS files and the tokens file are re-read (rotation without restart).
  std::chrono::milliseconds credentials_reload_interval{10000};
  // HTTP/2 streams (calls) one client connection may have open at once; more wait
  // on the client's side.
  int max_concurrent_streams = 10000;
  // Prometheus /metrics listen address; empty turns the endpoint off.
  std::string metrics_listen = "0.0.0.0:9464";
  // libpq connection string or URI. Empty: DATABASE_URL, else libpq's PG* variables.
  std::string database_url;
  // A file holding the database password (a Kubernetes secret); read at every connect.
  std::string database_password_file;
  // Largest number of PostgreSQL connections this instance opens.
  int pool_max = 16;
  // Connections kept open while idle (also how the pool notices the database return).
  int pool_min_idle = 1;
  // A connection is replaced once this old (less up to 10%, spread at random); 0: never.
  std::chrono::milliseconds pool_max_lifetime{30 * 60 * 1000};
  // Idle connections beyond pool_min_idle close after this long unused; 0: never.
  std::chrono::milliseconds pool_idle_timeout{10 * 60 * 1000};
  // Longest wait for a connection before UNAVAILABLE (the RPC deadline may cut it shorter).
  std::chrono::milliseconds acquire_timeout{5000};
  // Longest a statement may run, whatever the RPC's deadline (a longer one is
  // cancelled: DEADLINE_EXCEEDED, nothing written).
  std::chrono::milliseconds statement_timeout{30000};
  // How database work is shared between callers: "fair" or "fifo" (AdmissionPolicy).
  std::string admission = "fair";
  // See AdmissionPolicy::max_queue_wait; 0: off.
  std::chrono::milliseconds max_queue_wait{0};
  // See AdmissionPolicy::share_cap.
  bool share_cap = true;
  // Per-caller shares: from the --config file only (no flags).
  CallerShare caller_defaults;
  std::map<std::string, CallerShare> callers;
  // The --config file (JSON; proto/docgate/config/v1/runtime_config.proto): what
  // may change while docgate runs. Its values override the flags'; it is re-read on
  // SIGHUP and when it changes. Empty: none.
  std::string config_file;
  // Requests waiting for a connection beyond this are refused with UNAVAILABLE.
  int pool_queue_max = 4096;
  // libpq connect_timeout (rounded up to whole seconds, at least 2 as libpq requires).
  std::chrono::milliseconds connect_timeout{5000};
  // Apply schema migrations at start (also: `docgate migrate`).
  bool auto_migrate = true;
  // WaitVisible waits at most this long, whatever the call's deadline.
  std::chrono::milliseconds max_wait{30000};
  // WaitVisible calls waiting at once beyond this get RESOURCE_EXHAUSTED.
  int max_waiters = 100000;
  // How often the visibility watcher looks for documents others committed, and the
  // replica monitor polls replay positions while reads wait for a replica.
  std::chrono::milliseconds visibility_tick{5};
  // Read replicas (libpq URIs or key=value strings; the password file applies to
  // them too). Flag repeatable; environment DOCGATE_REPLICA_URLS, space-separated.
  std::vector<std::string> replica_urls;
  // A replica further behind the primary than this (bytes of WAL) leaves rotation.
  int64_t max_replica_lag_bytes = 16 * 1024 * 1024;
  // An AT_LEAST_AS_FRESH read waits this long for a replica to replay its token,
  // then goes to the primary.
  std::chrono::milliseconds replica_wait_max{1000};
  // The Celery broker tasks are delivered to: redis://[:PASSWORD@]HOST[:PORT][/DB].
  // Empty: no broker, and a write that asks to enqueue tasks is refused.
  std::string broker_url;
  // A file holding the broker's password (a Kubernetes secret); wins over the URL's.
  std::string broker_password_file;
  // How often the outbox is looked at besides the wake-up after this instance's own
  // commits: what delivers the tasks an instance left when it crashed.
  std::chrono::milliseconds outbox_poll_interval{1000};
  // How often each instance looks for leases that ran out (the bound on how late a
  // document whose worker died returns to PENDING).
  std::chrono::milliseconds lease_check_interval{1000};
  // Poison documents: the lease expiry that reaches this count moves a document to
  // FAILED (a worker may set its own bound); before it, its tasks are enqueued
  // again after lease_backoff, doubling each time up to lease_backoff_max.
  int lease_max_attempts = leases::RedeliveryPolicy().max_attempts;
  std::chrono::milliseconds lease_backoff = leases::RedeliveryPolicy().backoff;
  std::chrono::milliseconds lease_backoff_max = leases::RedeliveryPolicy().backoff_max;
  // In-flight RPCs get this long to finish after SIGTERM/SIGINT.
  std::chrono::milliseconds shutdown_grace{10000};
  // "text" or "json".
  std::string log_format = "text";
  // trace, debug, info, warn, error, critical, off.
  std::string log_level = "info";
  Limits limits;
};

// The admission policy `config` asks for.
AdmissionPolicy AdmissionPolicyOf(const Config& config);

// The poison-document policy `config` asks for.
leases::RedeliveryPolicy RedeliveryPolicyOf(const Config& config);

// What the command line asks for.
enum class Command { kServe, kMigrate, kHelp, kCheckConfig, kVersion };

struct Invocation {
  Command command = Command::kServe;
  Config config;
};

// Parses argv (without argv[0]) over the environment. Returns INVALID_ARGUMENT with
// one readable sentence for an unknown flag, a missing or malformed value.
absl::StatusOr<Invocation> LoadConfig(const std::map<std::string, std::string>& env,
                                      const std::vector<std::string>& args);

// `docgate --help`: every option with its environment variable and default.
std::string HelpText();

// The configuration as (flag name, value) pairs, every secret redacted (passwords
// in the database, replica and broker URLs; files are named, never read): what
// --check-config prints and the status page shows.
std::vector<std::pair<std::string, std::string>> ConfigInEffect(const Config& config);

// `docgate --check-config`: ConfigInEffect, one `name = value` a line.
std::string DescribeConfig(const Config& config);

// Parses "250ms", "5s", "2m", "1h". Exposed for tests.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(const std::string& text);

}  // namespace docgate
