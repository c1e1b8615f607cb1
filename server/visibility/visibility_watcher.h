#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <prometheus/histogram.h>

#include "server/common/clock.h"
#include "server/common/log_limiter.h"
#include "server/db/connection.h"
#include "server/db/watched_connection.h"
#include "server/visibility/waiter_registry.h"

namespace docgate::visibility {

// Finds documents that became visible through writes this instance did not make
// (other instances, other programs): one batched query per tick for every pending
// id, on one dedicated connection outside the pool, and only while waiters exist.
// The rows it finds (bodies included) wake their waiters, who answer from them
// without reading again. Also expires waiters whose time passed. Reconnects with
// backoff; waiters keep waiting (until their deadline) while the database is away.
// One thread; ticks and expiry are read on `clock`.
class VisibilityWatcher {
 public:
  // `watchdog` cuts a check that hangs (a network that swallows packets); `checks`
  // (may be null) observes how long each check took.
  VisibilityWatcher(WaiterRegistry& registry, db::ConnectionOpener open, std::chrono::milliseconds tick,
                    db::QueryWatchdog& watchdog, prometheus::Histogram* checks, Clock& clock = Clock::Real());
  ~VisibilityWatcher();  // Stop()
  VisibilityWatcher(const VisibilityWatcher&) = delete;
  VisibilityWatcher& operator=(const VisibilityWatcher&) = delete;

  void Stop();

 private:
  void Loop();
  void Check();
  void SleepFor(std::chrono::milliseconds d);

  WaiterRegistry& registry_;
  const std::chrono::milliseconds tick_;
  prometheus::Histogram* const checks_;
  Clock& clock_;
  db::WatchedConnection conn_;  // the Loop thread's only
  // A failing check is logged at once, then one line per 30 s while it keeps failing.
  LogLimiter failure_lines_{1, std::chrono::seconds(30)};

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace docgate::visibility
