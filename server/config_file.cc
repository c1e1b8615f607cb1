#include "server/config_file.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "docgate/config/v1/runtime_config.pb.h"
#include "server/common/read_file.h"

namespace docgate {
namespace {

using config::v1::CallerSettings;
using config::v1::RuntimeConfig;

constexpr size_t kMaxNamedCallers = 100;  // each is a metric label
constexpr double kMaxWeight = 1e6;

absl::Status Invalid(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
}

absl::Status SetDuration(const std::string& key, const std::string& text, std::chrono::milliseconds min,
                         std::chrono::milliseconds* out) {
  auto d = ParseDuration(text);
  if (!d.ok()) return Invalid(key, std::string(d.status().message()));
  if (*d < min) return Invalid(key, absl::StrCat("must be at least ", min.count(), "ms"));
  *out = *d;
  return absl::OkStatus();
}

// `base` with the settings `s` gives.
absl::StatusOr<CallerShare> ShareOf(const std::string& key, const CallerSettings& s, CallerShare base) {
  if (s.has_weight()) {
    if (!(s.weight() > 0 && s.weight() <= kMaxWeight)) return Invalid(key + ".weight", "must be > 0 and <= 1000000");
    base.weight = s.weight();
  }
  if (s.has_max_running()) {
    if (s.max_running() < 0) return Invalid(key + ".max_running", "must be >= 0");
    base.max_running = s.max_running();
  }
  if (s.has_max_queued()) {
    if (s.max_queued() < 0) return Invalid(key + ".max_queued", "must be >= 0");
    base.max_queued = static_cast<size_t>(s.max_queued());
  }
  return base;
}

absl::Status ApplyPool(const config::v1::Pool& pool, Config& c) {
  if (pool.has_max()) {
    if (pool.max() < 1) return Invalid("pool.max", "must be at least 1");
    c.pool_max = pool.max();
  }
  if (pool.has_min_idle()) {
    if (pool.min_idle() < 0) return Invalid("pool.min_idle", "must be >= 0");
    c.pool_min_idle = pool.min_idle();
  }
  if (c.pool_min_idle > c.pool_max) return Invalid("pool.min_idle", "must not exceed pool.max");
  return absl::OkStatus();
}

absl::Status ApplyAdmission(const config::v1::Admission& a, Config& c) {
  if (a.has_mode()) {
    if (a.mode() != "fair" && a.mode() != "fifo") return Invalid("admission.mode", "expected fair or fifo");
    c.admission = a.mode();
  }
  if (a.has_max_queue_wait()) {
    if (auto s = SetDuration("admission.max_queue_wait", a.max_queue_wait(), {}, &c.max_queue_wait); !s.ok()) return s;
  }
  if (a.has_share_cap()) c.share_cap = a.share_cap();
  if (a.has_defaults()) {
    auto share = ShareOf("admission.defaults", a.defaults(), c.caller_defaults);
    if (!share.ok()) return share.status();
    c.caller_defaults = *share;
  }
  if (a.callers_size() > static_cast<int>(kMaxNamedCallers)) {
    return Invalid("admission.callers", absl::StrCat("at most ", kMaxNamedCallers, " named callers"));
  }
  c.callers.clear();
  for (const auto& [name, settings] : a.callers()) {
    const std::string key = "admission.callers." + name;
    if (!IsCallerName(name)) return Invalid(key, std::string("a caller is ") + kCallerNameRule);
    auto share = ShareOf(key, settings, c.caller_defaults);
    if (!share.ok()) return share.status();
    c.callers[name] = *share;
  }
  return absl::OkStatus();
}

absl::Status ApplyLeases(const config::v1::Leases& f, Config& c) {
  if (f.has_max_attempts()) c.lease_max_attempts = f.max_attempts();
  if (f.has_backoff()) {
    if (auto s = SetDuration("leases.backoff", f.backoff(), std::chrono::milliseconds(0), &c.lease_backoff); !s.ok()) {
      return s;
    }
  }
  if (f.has_backoff_max()) {
    if (auto s = SetDuration("leases.backoff_max", f.backoff_max(), std::chrono::milliseconds(0), &c.lease_backoff_max);
        !s.ok()) {
      return s;
    }
  }
  if (auto problem = leases::PolicyProblem(RedeliveryPolicyOf(c)); !problem.empty()) return Invalid("leases", problem);
  return absl::OkStatus();
}

absl::Status ApplyScalars(const RuntimeConfig& f, Config& c) {
  struct DurationKey {
    const char* key;
    bool present;
    const std::string& text;
    std::chrono::milliseconds& out;
  };
  for (const DurationKey& d :
       {DurationKey{"acquire_timeout", f.has_acquire_timeout(), f.acquire_timeout(), c.acquire_timeout},
        DurationKey{"statement_timeout", f.has_statement_timeout(), f.statement_timeout(), c.statement_timeout},
        DurationKey{"max_wait", f.has_max_wait(), f.max_wait(), c.max_wait}}) {
    if (!d.present) continue;
    if (auto s = SetDuration(d.key, d.text, std::chrono::milliseconds(1), &d.out); !s.ok()) return s;
  }
  if (f.has_max_waiters()) {
    if (f.max_waiters() < 1 || f.max_waiters() > INT32_MAX) return Invalid("max_waiters", "must be at least 1");
    c.max_waiters = static_cast<int>(f.max_waiters());
  }
  if (f.has_log_level()) {
    static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
    if (kLevels.count(f.log_level()) == 0) {
      return Invalid("log_level", "expected trace, debug, info, warn, error, critical or off");
    }
    c.log_level = f.log_level();
  }
  if (f.has_max_replica_lag_bytes()) {
    if (f.max_replica_lag_bytes() < 0) return Invalid("max_replica_lag_bytes", "must be >= 0");
    c.max_replica_lag_bytes = f.max_replica_lag_bytes();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> ApplyConfigJson(const Config& flags, const std::string& json) {
  RuntimeConfig file;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt key must not pass unnoticed
  if (auto s = google::protobuf::util::JsonStringToMessage(json, &file, options); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("not valid: ", std::string(s.message())));
  }
  Config c = flags;
  for (auto status : {ApplyPool(file.pool(), c), ApplyScalars(file, c), ApplyAdmission(file.admission(), c),
                      ApplyLeases(file.leases(), c)}) {
    if (!status.ok()) return status;
  }
  return c;
}

absl::StatusOr<Config> WithConfigFile(const Config& flags) {
  if (flags.config_file.empty()) return flags;
  return WithConfigText(flags, ReadWholeFile(flags.config_file));
}

absl::StatusOr<Config> WithConfigText(const Config& flags, const std::optional<std::string>& text) {
  if (!text.has_value()) return absl::InvalidArgumentError("cannot read the --config file " + flags.config_file);
  auto config = ApplyConfigJson(flags, *text);
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--config file ", flags.config_file, ": ", std::string(config.status().message())));
  }
  return config;
}

bool RuntimeDiffers(const Config& a, const Config& b) {
  return a.pool_max != b.pool_max || a.pool_min_idle != b.pool_min_idle || a.acquire_timeout != b.acquire_timeout ||
         a.statement_timeout != b.statement_timeout || a.max_wait != b.max_wait || a.max_waiters != b.max_waiters ||
         a.log_level != b.log_level || a.max_replica_lag_bytes != b.max_replica_lag_bytes ||
         !(AdmissionPolicyOf(a) == AdmissionPolicyOf(b)) || a.lease_max_attempts != b.lease_max_attempts ||
         a.lease_backoff != b.lease_backoff || a.lease_backoff_max != b.lease_backoff_max;
}

}  // namespace docgate
