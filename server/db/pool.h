#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "server/common/backoff.h"
#include "server/common/clock.h"
#include "server/common/log_limiter.h"
#include "server/db/connection.h"
#include "server/db/db_observer.h"
#include "server/db/query_watchdog.h"

namespace docgate::db {

struct PoolOptions {
  int max_size = 16;  // never more connections than this, opening ones included
  int min_idle = 1;   // kept open while idle
  size_t max_waiters = 4096;
  // A connection is closed once this old (each gets up to 10% less, so that a
  // pool opened at once does not reconnect at once). Zero: no limit.
  std::chrono::milliseconds max_lifetime{30 * 60 * 1000};
  // Idle connections beyond min_idle are closed after this long unused. Zero: never.
  std::chrono::milliseconds idle_timeout{10 * 60 * 1000};
  std::chrono::milliseconds reconnect_initial{50};
  std::chrono::milliseconds reconnect_max{1000};
  DbObserver* observer = nullptr;  // may be null; must outlive the pool
};

// Why the pool closed a connection (a metric label).
enum class CloseReason {
  kBroken,    // lost, cut, or marked unusable by its user
  kDead,      // found closed by the server while idle
  kExpired,   // past its lifetime
  kIdle,      // idle past idle_timeout, beyond min_idle
  kEvicted,   // idle, closed to make room for a new connection a retry asked for
  kResized,   // beyond a smaller bound set by Resize
  kShutdown,  // the pool closed
};
inline constexpr int kCloseReasons = 7;
const char* CloseReasonName(CloseReason reason);

class Pool;

// One pooled connection and what the pool knows of it.
struct PooledConnection {
  std::unique_ptr<Connection> conn;
  Clock::time_point expires_at = Clock::time_point::max();
  Clock::time_point idle_since{};
  int statement_timeout_ms = -1;  // the session's statement_timeout as last set; -1: unknown
};

// Exclusive use of one pooled connection. Returned on destruction: kept when clean,
// discarded when marked unusable, closed, or past its lifetime. Movable, not copyable.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  Connection& connection() { return *pooled_.conn; }
  // The connection's state is unknown (lost, or an error the client library could
  // not recover from): it is closed instead of returned.
  void MarkUnusable() { usable_ = false; }
  int& statement_timeout_ms() { return pooled_.statement_timeout_ms; }
  // The server did not answer in time although it should have: it is closed, and
  // the pool treats the database as unreachable until a new connection succeeds.
  void MarkUnresponsive() {
    usable_ = false;
    unresponsive_ = true;
  }

 private:
  friend class Pool;
  Lease(Pool* pool, PooledConnection pooled) : pool_(pool), pooled_(std::move(pooled)) {}
  Pool* pool_;
  PooledConnection pooled_;
  bool usable_ = true;
  bool unresponsive_ = false;
};

// Counts for metrics and tests.
struct PoolStats {
  int idle = 0;
  int in_use = 0;
  int opening = 0;
  size_t waiters = 0;
  bool reachable = false;
  bool circuit_open = false;
  uint64_t opened_total = 0;
  std::array<uint64_t, kCloseReasons> closed_total{};  // by CloseReason
  uint64_t leased_total = 0;                           // connections handed out by Acquire
  int max_size = 0;                                    // the bound in force
};

// A bounded pool of PostgreSQL connections with FIFO-fair acquisition.
//
// Connections are opened by one background thread, never by acquirers, so a dead
// server sees one connect attempt at a time, spaced by exponential backoff with
// jitter. While the last attempt failed and no connection is idle, Acquire fails
// fast with UNAVAILABLE instead of queueing (before the first attempt has ended,
// it waits for it). An idle connection is checked before it is handed out, at no
// round trip: a socket with something to read while idle means the server closed
// or killed it. The same thread closes idle connections past idle_timeout (down
// to min_idle) and past their lifetime, and probes an idle connection when nothing
// succeeded for a while (a partition sends nothing). All timing reads `clock`.
// Thread-safe.
class Pool {
 public:
  Pool(PoolOptions options, ConnectionOpener opener, Clock& clock = Clock::Real());
  ~Pool();  // Close()s; every Lease must have been returned.
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A connection, first come first served. Waits until `give_up_at` at the latest:
  //   DEADLINE_EXCEEDED  `give_up_at` == `rpc_deadline` passed first
  //   UNAVAILABLE        the acquire timeout passed first, the waiter queue is full,
  //                      the database is unreachable, or the pool is closed.
  // `fresh`: a newly opened connection, never a recycled one (a retry after a lost
  // connection: the others may be as dead, before their sockets show it).
  absl::StatusOr<Lease> Acquire(Clock::time_point give_up_at, Clock::time_point rpc_deadline, bool fresh = false);

  // Changes the bound and the idle floor while the pool runs. A smaller bound closes
  // idle connections at once and busy ones as they come back, never one in use; a
  // larger one lets the connector open more in the background for the waiters and
  // the floor. max_size is at least 1; min_idle between 0 and max_size.
  void Resize(int max_size, int min_idle);

  // Whether the database answered the last connect attempt (or a connection is open).
  bool Reachable() const;

  // Called from the connector thread whenever Reachable() changes, and once at once.
  void OnReachabilityChange(std::function<void(bool)> listener);

  // Fails every waiter with UNAVAILABLE, closes idle connections, stops the connector.
  // Leases still out are closed when they come back.
  void Close();

  PoolStats Stats() const;

  // Bounds the calls made on leased connections (see with_connection.h).
  QueryWatchdog& watchdog() { return watchdog_; }

  // Where statement failures are reported (see with_connection.h); may be null.
  DbObserver* observer() const { return options_.observer; }

  // The clock the pool and its users' deadlines are read on.
  Clock& clock() const { return clock_; }

 private:
  friend class Lease;
  struct Waiter {
    std::condition_variable cv;
    PooledConnection pooled;
    absl::Status failure;  // set instead of `pooled` when the pool gives up on this waiter
    bool done = false;
    bool fresh = false;  // takes only a newly opened connection
  };

  void Return(PooledConnection pooled, bool usable, bool unresponsive);
  // Drops idle connections and fails fast until a connect succeeds. Unlocks to notify.
  void DeclareUnreachableLocked(std::unique_lock<std::mutex>& lock, std::vector<PooledConnection>& closing);
  void ConnectorLoop();
  bool NeedsConnectionLocked() const;
  // To the longest waiting acquirer that may take it (a recycled connection skips
  // waiters that want a fresh one), else to the idle list.
  void HandOutLocked(PooledConnection pooled, bool newly_opened);
  void CloseLocked(PooledConnection pooled, CloseReason reason, std::vector<PooledConnection>& closing);
  void EvictIdleLocked(std::vector<PooledConnection>& closing);
  // Runs SELECT 1 on the oldest idle connection when nothing succeeded lately, so that
  // an outage that sends nothing (a partition) is noticed. Unlocks while it runs.
  void ProbeIfQuietLocked(std::unique_lock<std::mutex>& lock);
  void FailWaitersLocked();
  void SetReachableLocked(bool reachable);
  void NotifyListener();
  void LogConnectFailure(const absl::Status& status);
  PooledConnection Wrap(std::unique_ptr<Connection> conn);
  // A new connection from the opener, with the circuit and reachability updated; the
  // wait before the next attempt after a failure (zero after a success or a blip).
  std::chrono::milliseconds OpenOneLocked(std::unique_lock<std::mutex>& lock);
  // Closes idle connections due for it; whether it closed any (and unlocked to do so).
  bool EvictDueLocked(std::unique_lock<std::mutex>& lock);

  const PoolOptions options_;
  const ConnectionOpener opener_;
  Clock& clock_;
  QueryWatchdog watchdog_;
  Backoff reconnect_backoff_;  // the connector thread's only

  mutable std::mutex mu_;
  std::condition_variable connector_cv_;
  int max_size_;  // PoolOptions' max_size and min_idle, as Resize last set them
  int min_idle_;
  std::vector<PooledConnection> idle_;  // back = most recently used
  std::deque<Waiter*> waiters_;         // front = longest waiting
  int in_use_ = 0;
  int opening_ = 0;
  bool reachable_ = false;            // the last connect attempt succeeded
  bool last_connect_failed_ = false;  // the circuit is open; false also before the first attempt
  int consecutive_failures_ = 0;
  bool closed_ = false;
  uint64_t opened_total_ = 0;
  uint64_t leased_total_ = 0;
  Clock::time_point last_verified_{};  // a query or probe last succeeded then
  std::array<uint64_t, kCloseReasons> closed_total_{};
  std::mutex listener_mu_;  // serialises listener calls; never taken under mu_
  std::function<void(bool)> listener_;
  // The first connect failure after a success is logged at once, then one line per 30 s.
  LogLimiter connect_failure_log_{1, std::chrono::seconds(30)};
  std::thread connector_;
};

}  // namespace docgate::db
