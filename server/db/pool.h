#pragma once

#include <pqxx/connection>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"


namespace docgate::db {

using Clock = std::chrono::steady_clock;

struct PoolOptions {
  int max_size = 16;  // never more connections than this, opening ones included
  int min_idle = 1;   // kept open while idle
  size_t max_waiters = 4096;
  std::chrono::milliseconds reconnect_initial{50};
  std::chrono::milliseconds reconnect_max{2000};
};

// Opens one ready-to-use connection (schema checked, statements prepared), or says why not.
using ConnectionOpener = std::function<absl::StatusOr<std::unique_ptr<pqxx::connection>>()>;

class Pool;

// Exclusive use of one pooled connection. Returned on destruction: kept when clean,
// discarded when marked unusable or closed. Movable, not copyable.
class Lease {
 public:
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&&) = delete;
  Lease(const Lease&) = delete;
  ~Lease();

  pqxx::connection& connection() { return *conn_; }
  // The connection's state is unknown (lost, or an error the client library could
  // not recover from): it is closed instead of returned.
  void MarkUnusable() { usable_ = false; }

 private:
  friend class Pool;
  Lease(Pool* pool, std::unique_ptr<pqxx::connection> conn) : pool_(pool), conn_(std::move(conn)) {}
  Pool* pool_;
  std::unique_ptr<pqxx::connection> conn_;
  bool usable_ = true;
};

// Counts for metrics and tests.
struct PoolStats {
  int idle = 0;
  int in_use = 0;
  int opening = 0;
  size_t waiters = 0;
  bool reachable = false;
};

// A bounded pool of PostgreSQL connections with FIFO-fair acquisition.
//
// Connections are opened by one background thread, never by acquirers, so a dead
// server sees one connect attempt at a time, spaced by exponential backoff with
// jitter. While the last attempt failed and no connection is idle, Acquire fails
// fast with UNAVAILABLE instead of queueing (before the first attempt has ended,
// it waits for it). Thread-safe.
class Pool {
 public:
  Pool(PoolOptions options, ConnectionOpener opener);
  ~Pool();  // Close()s; every Lease must have been returned.
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // A connection, first come first served. Waits until `give_up_at` at the latest:
  //   DEADLINE_EXCEEDED  `give_up_at` == `rpc_deadline` passed first
  //   UNAVAILABLE        the acquire timeout passed first, the waiter queue is full,
  //                      the database is unreachable, or the pool is closed.
  absl::StatusOr<Lease> Acquire(Clock::time_point give_up_at, Clock::time_point rpc_deadline);

  // Whether the database answered the last connect attempt (or a connection is open).
  bool Reachable() const;

  // Called from the connector thread whenever Reachable() changes, and once at once.
  void OnReachabilityChange(std::function<void(bool)> listener);

  // Fails every waiter with UNAVAILABLE, closes idle connections, stops the connector.
  // Leases still out are closed when they come back.
  void Close();

  PoolStats Stats() const;

 private:
  friend class Lease;
  struct Waiter {
    std::condition_variable cv;
    std::unique_ptr<pqxx::connection> conn;
    absl::Status failure;  // set instead of conn when the pool gives up on this waiter
    bool done = false;
  };

  void Return(std::unique_ptr<pqxx::connection> conn, bool usable);
  void ConnectorLoop();
  bool NeedsConnectionLocked() const;
  void HandOutLocked(std::unique_ptr<pqxx::connection> conn);
  void SetReachableLocked(bool reachable);
  void NotifyListener();
  void LogConnectFailure(const absl::Status& status);

  const PoolOptions options_;
  const ConnectionOpener opener_;

  mutable std::mutex mu_;
  std::condition_variable connector_cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;  // back = most recently used
  std::deque<Waiter*> waiters_;                          // front = longest waiting
  int in_use_ = 0;
  int opening_ = 0;
  bool reachable_ = false;            // the last connect attempt succeeded
  bool last_connect_failed_ = false;  // false also before the first attempt
  bool closed_ = false;
  std::mutex listener_mu_;  // serialises listener calls; never taken under mu_
  std::function<void(bool)> listener_;
  Clock::time_point last_failure_log_{};
  int failures_unlogged_ = -1;  // -1: no failure since the last success
  std::thread connector_;
};

}  // namespace docgate::db
