#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/common/clock.h"
#include "server/common/log_limiter.h"
#include "server/db/pool.h"
#include "server/db/query_watchdog.h"
#include "server/db/watched_connection.h"
#include "server/observability/replica_metrics.h"
#include "server/store/cluster.h"
#include "server/store/document_store.h"

namespace docgate::replicas {

// The primary's name as a read source (served_by, and the reads metric's label).
inline constexpr char kPrimarySource[] = "primary";

// A data source a read can go to.
struct ReadSource {
  std::string name;                       // "primary", or "replica:HOST:PORT": what served_by says
  store::DocumentStore* store = nullptr;  // its documents
  int replica = -1;                       // the replica's index; -1 for the primary
  prometheus::Counter* reads = nullptr;   // docgate_reads_total{source=name}
  bool is_replica() const { return replica >= 0; }
};

// Where a read may go (docgate.v1.Consistency, resolved).
enum class ReadMode {
  kPrimary,  // STRONG, or no token and no choice
  kFresh,    // AT_LEAST_AS_FRESH: a replica that has replayed `lsn`, else the primary
  kAny,      // MINIMIZE_LATENCY: any replica in rotation, else the primary
};

struct ReplicaOptions {
  uint64_t max_lag_bytes = 16 * 1024 * 1024;       // beyond: out of rotation
  std::chrono::milliseconds max_wait{1000};        // a kFresh read waits this long for a replica
  std::chrono::milliseconds tick{5};               // replay positions are polled this often while reads wait
  std::chrono::milliseconds check_interval{1000};  // health and lag of every replica, always
};

// One configured replica: its pool (for reads) and how to open its monitor connection.
struct ReplicaSpec {
  std::string endpoint;  // HOST:PORT
  std::unique_ptr<db::Pool> pool;
  db::ConnectionOpener open_monitor;
};

// The read replicas and the primary as read sources, and the routing of reads
// between them.
//
// One monitor thread, with one connection per replica outside its pool: every
// check_interval it reads the primary's WAL position (through the primary's pool)
// and each replica's replay position, sets the lag gauges, and puts a replica in
// rotation when it answers and lags at most max_lag_bytes, out of it otherwise.
// While reads wait for a replica to replay their token it polls replay positions
// every tick (one query per replica per tick, however many wait), and only then.
// Thread-safe.
class ReplicaSet {
 public:
  using Then = std::function<void(const ReadSource&)>;

  // Every position the monitor sees reached (the primary's, a replica's replay) is
  // told to `cluster`: a token routed to a replica then costs no check on the primary.
  ReplicaSet(store::DocumentStore& primary, store::Cluster& cluster, std::vector<ReplicaSpec> replicas,
             ReplicaOptions options, ReplicaMetrics& metrics, db::QueryWatchdog& watchdog,
             Clock& clock = Clock::Real());
  ~ReplicaSet();  // Stop()
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  // Changes the lag beyond which a replica leaves rotation (a reload); the
  // monitor's next check applies it.
  void SetMaxLagBytes(uint64_t bytes) { max_lag_bytes_.store(bytes, std::memory_order_relaxed); }

  // Gives every replica's pool these bounds (a reload of --pool-max, --pool-min-idle).
  void ResizePools(int max_size, int min_idle);

  bool empty() const { return replicas_.empty(); }
  size_t size() const { return replicas_.size(); }
  const ReadSource& primary() const { return primary_; }
  const ReadSource& replica(size_t index) const { return replicas_[index]->source; }

  // Chooses the source of a read and calls `then` with it, exactly once: at once,
  // or for a kFresh read that no replica in rotation has replayed yet, from the
  // monitor thread as soon as one has, or with the primary after max_wait (or half
  // the time left before `deadline`, whichever is sooner). `then` must not block.
  void Route(ReadMode mode, uint64_t lsn, Clock::time_point deadline, Then then);

  // A read on `source` failed for the source's own reasons: the replica leaves
  // rotation until its next check succeeds.
  void MarkFailed(const ReadSource& source);

  // Sends waiting reads to the primary and stops the monitor. Idempotent.
  void Stop();

 private:
  struct Replica {
    ReadSource source;
    std::unique_ptr<db::Pool> pool;
    std::unique_ptr<store::DocumentStore> store;
    std::unique_ptr<db::WatchedConnection> monitor;  // the monitor thread's only
    std::atomic<uint64_t> replayed{0};
    std::atomic<uint32_t> timeline{0};     // the one `replayed` is on (0: unknown)
    std::atomic<uint32_t> behind_said{0};  // the primary's timeline it was last said to be behind
    std::atomic<bool> in_rotation{false};
    prometheus::Gauge* lag = nullptr;
    prometheus::Gauge* rotation = nullptr;
  };

  struct Waiter {
    uint64_t lsn;
    Clock::time_point give_up_at;
    Then then;
  };

  void Loop();
  // Health, lag and rotation of every replica.
  void CheckAll();
  // Reads `r`'s replay position on its monitor connection; false (and out of
  // rotation) when it cannot.
  bool Poll(Replica& r);
  // Puts `r` in or out of rotation, with its gauge, logging a change (and `why` it left).
  void SetRotation(Replica& r, bool in, const std::string& why);
  // Hands waiting reads their source: a replica that has caught up, or the primary
  // once their time is up (or `all`: at stop).
  void Release(bool all);
  // A replica in rotation that has replayed `lsn`, round robin; null if none.
  const ReadSource* Pick(uint64_t lsn);
  bool AnyInRotation() const;
  uint64_t max_lag_bytes() const { return max_lag_bytes_.load(std::memory_order_relaxed); }

  ReadSource primary_;
  store::Cluster& cluster_;
  Clock& clock_;
  const ReplicaOptions options_;
  std::atomic<uint64_t> max_lag_bytes_;  // options_.max_lag_bytes, or what a reload set
  ReplicaMetrics& metrics_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::atomic<uint64_t> next_pick_{0};
  uint64_t primary_lsn_ = 0;  // monitor thread only
  // The primary's position unknown: logged at once, then one line per 30 s.
  LogLimiter primary_lines_{1, std::chrono::seconds(30)};

  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Waiter> waiters_;  // guarded by mu_
  bool stopping_ = false;        // guarded by mu_
  std::thread thread_;
};

}  // namespace docgate::replicas
