#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "server/db/pool.h"
#include "server/db/watched_connection.h"
#include "server/visibility/waiter_registry.h"

namespace docgate::visibility {

// Finds documents that became visible through writes this instance did not make
// (other instances, other programs): one batched query per tick for every pending
// id, on one dedicated connection outside the pool, and only while waiters exist.
// Also expires waiters whose time passed. Reconnects with backoff; waiters keep
// waiting (until their deadline) while the database is away. One thread.
class VisibilityWatcher {
 public:
  // `watchdog` cuts a check that hangs (a network that swallows packets).
  VisibilityWatcher(WaiterRegistry& registry, db::ConnectionOpener open, std::chrono::milliseconds tick,
                    db::QueryWatchdog& watchdog);
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
  db::WatchedConnection conn_;  // the Loop thread's only

  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace docgate::visibility
