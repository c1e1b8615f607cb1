#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <prometheus/histogram.h>

#include "server/common/clock.h"
#include "server/common/log_limiter.h"
#include "server/db/connection.h"
#include "server/db/watched_connection.h"
#include "server/store/document.h"
#include "server/visibility/waiter_registry.h"

namespace docgate::visibility {

// Finds documents that became visible through writes this instance did not make
// (other instances, other programs), on one dedicated connection outside the pool,
// and only while waiters exist. The rows it finds (bodies included) wake their
// waiters, who answer from them without reading again. Also expires waiters whose
// time passed. Reconnects with backoff; waiters keep waiting (until their deadline)
// while the database is away. One thread; ticks and expiry are read on `clock`.
//
// Each tick it asks which documents were created since the last tick (less a
// margin for transactions still open then), and reads those someone waits for: a
// look whose cost follows the write rate, not the number of waiters. When few ids
// are waited for, each tick reads them all; beyond, each tick also reads a slice
// of them, going round them all in about a second: that finds what the cheap look
// cannot (a row whose create_time is older than its commit by more than the
// margin, a create_time set by hand), so such a wait lasts at most that much longer.
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
  // On the watcher's connection: the rows of waited-for documents visible now.
  std::vector<store::Document> FindVisible(pqxx::connection& conn);
  void SleepFor(std::chrono::milliseconds d);

  WaiterRegistry& registry_;
  const std::chrono::milliseconds tick_;
  prometheus::Histogram* const checks_;
  Clock& clock_;
  db::WatchedConnection conn_;  // the Loop thread's only
  // A failing check is logged at once, then one line per 30 s while it keeps failing.
  LogLimiter failure_lines_{1, std::chrono::seconds(30)};
  // The Loop thread's only. Where the next cheap look starts (database clock, µs
  // since the epoch); unknown at first and after a failure: a full check then.
  std::optional<int64_t> since_us_;

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace docgate::visibility
