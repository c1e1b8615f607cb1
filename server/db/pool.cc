#include "server/db/pool.h"

#include <algorithm>
#include <random>

#include "spdlog/spdlog.h"

namespace docgate::db {
namespace {

// How often the connector wakes without being asked, to evict idle or old connections.
constexpr auto kHousekeepingInterval = std::chrono::milliseconds(250);
// With no success for this long, an idle connection is probed...
constexpr auto kQuietBeforeProbe = std::chrono::milliseconds(500);
// ...and the probe must answer within this.
constexpr auto kProbeLimit = std::chrono::milliseconds(700);
// Consecutive failed connects that make the pool fail fast.
constexpr int kFailuresToOpen = 2;

}  // namespace

const char* CloseReasonName(CloseReason reason) {
  switch (reason) {
    case CloseReason::kBroken: return "broken";
    case CloseReason::kDead: return "dead_when_idle";
    case CloseReason::kExpired: return "max_lifetime";
    case CloseReason::kIdle: return "idle_timeout";
    case CloseReason::kEvicted: return "evicted";
    case CloseReason::kResized: return "resized";
    case CloseReason::kShutdown: return "shutdown";
  }
  return "unknown";
}

Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_),
      pooled_(std::move(other.pooled_)),
      usable_(other.usable_),
      unresponsive_(other.unresponsive_) {
  other.pool_ = nullptr;
}

Lease::~Lease() {
  if (pool_ != nullptr && pooled_.conn != nullptr) pool_->Return(std::move(pooled_), usable_, unresponsive_);
}

Pool::Pool(PoolOptions options, ConnectionOpener opener, Clock& clock)
    : options_(options),
      opener_(std::move(opener)),
      clock_(clock),
      watchdog_(clock),
      reconnect_backoff_(options.reconnect_initial, options.reconnect_max),
      max_size_(options.max_size),
      min_idle_(options.min_idle),
      connector_([this] { ConnectorLoop(); }) {}

Pool::~Pool() { Close(); }

PooledConnection Pool::Wrap(std::unique_ptr<Connection> conn) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  PooledConnection pooled;
  pooled.conn = std::move(conn);
  pooled.idle_since = clock_.Now();
  if (options_.max_lifetime.count() > 0) {
    const auto lifetime = options_.max_lifetime.count();
    std::uniform_int_distribution<int64_t> jitter(0, lifetime / 10);
    pooled.expires_at = pooled.idle_since + std::chrono::milliseconds(lifetime - jitter(rng));
  }
  return pooled;
}

void Pool::CloseLocked(PooledConnection pooled, CloseReason reason, std::vector<PooledConnection>& closing) {
  ++closed_total_[static_cast<int>(reason)];
  closing.push_back(std::move(pooled));
  connector_cv_.notify_one();  // a replacement may be needed
}

absl::StatusOr<Lease> Pool::Acquire(Clock::time_point give_up_at, Clock::time_point rpc_deadline, bool fresh) {
  std::vector<PooledConnection> closing;  // closed after the lock is released (it talks to the server)
  std::unique_lock lock(mu_);
  if (closed_) return absl::UnavailableError("server is shutting down");
  const auto now = clock_.Now();
  if (fresh && !idle_.empty() && static_cast<int>(idle_.size()) + in_use_ + opening_ >= max_size_) {
    // Make room for the new connection: the least recently used idle one goes.
    CloseLocked(std::move(idle_.front()), CloseReason::kEvicted, closing);
    idle_.erase(idle_.begin());
  }
  while (!fresh && !idle_.empty()) {
    PooledConnection pooled = std::move(idle_.back());
    idle_.pop_back();
    if (now >= pooled.expires_at) {
      CloseLocked(std::move(pooled), CloseReason::kExpired, closing);
    } else if (pooled.conn->LooksDead()) {
      CloseLocked(std::move(pooled), CloseReason::kDead, closing);
    } else {
      ++in_use_;
      ++leased_total_;
      if (options_.observer != nullptr) options_.observer->AcquireEnded(clock_.Now() - now, /*timed_out=*/false);
      return Lease(this, std::move(pooled));
    }
  }
  // Before the first attempt has ended, wait for it; after a failed one, fail fast.
  if (last_connect_failed_) return absl::UnavailableError("database unavailable");
  if (waiters_.size() >= options_.max_waiters) {
    return absl::UnavailableError("too many requests waiting for a database connection");
  }
  Waiter waiter;
  waiter.fresh = fresh;
  waiters_.push_back(&waiter);
  connector_cv_.notify_one();
  while (!waiter.done) {
    if (clock_.Now() >= give_up_at) {
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
      if (options_.observer != nullptr) options_.observer->AcquireEnded(clock_.Now() - now, /*timed_out=*/true);
      if (give_up_at >= rpc_deadline) return absl::DeadlineExceededError("deadline passed waiting for a connection");
      return absl::UnavailableError("no database connection within the acquire timeout");
    }
    clock_.WaitUntil(waiter.cv, lock, give_up_at);
  }
  if (!waiter.failure.ok()) return waiter.failure;
  ++leased_total_;
  if (options_.observer != nullptr) options_.observer->AcquireEnded(clock_.Now() - now, /*timed_out=*/false);
  return Lease(this, std::move(waiter.pooled));
}

void Pool::HandOutLocked(PooledConnection pooled, bool newly_opened) {
  auto it = std::find_if(waiters_.begin(), waiters_.end(), [&](Waiter* w) { return newly_opened || !w->fresh; });
  if (it == waiters_.end()) {
    pooled.idle_since = clock_.Now();
    idle_.push_back(std::move(pooled));
    return;
  }
  Waiter* waiter = *it;
  waiters_.erase(it);
  waiter->pooled = std::move(pooled);
  waiter->done = true;
  ++in_use_;
  waiter->cv.notify_one();
}

void Pool::Return(PooledConnection pooled, bool usable, bool unresponsive) {
  std::vector<PooledConnection> closing;
  std::unique_lock lock(mu_);
  --in_use_;
  if (unresponsive && !closed_) {
    CloseLocked(std::move(pooled), CloseReason::kBroken, closing);
    if (reachable_) {
      spdlog::warn("database stopped answering; a call outlived its statement timeout");
      DeclareUnreachableLocked(lock, closing);
    }
  } else if (closed_) {
    CloseLocked(std::move(pooled), CloseReason::kShutdown, closing);
  } else if (!usable) {
    CloseLocked(std::move(pooled), CloseReason::kBroken, closing);
  } else if (static_cast<int>(idle_.size()) + in_use_ + opening_ + 1 > max_size_) {
    CloseLocked(std::move(pooled), CloseReason::kResized, closing);  // the pool shrank while it was out
  } else if (clock_.Now() >= pooled.expires_at) {
    CloseLocked(std::move(pooled), CloseReason::kExpired, closing);
  } else {
    last_verified_ = clock_.Now();
    HandOutLocked(std::move(pooled), /*newly_opened=*/false);
  }
}  // `closing` is destroyed after `lock`: connections close outside the lock

void Pool::FailWaitersLocked() {
  // Nobody should wait for a connection that cannot be made: fail fast.
  while (!waiters_.empty()) {
    Waiter* waiter = waiters_.front();
    waiters_.pop_front();
    waiter->failure = absl::UnavailableError("database unavailable");
    waiter->done = true;
    waiter->cv.notify_one();
  }
}

void Pool::DeclareUnreachableLocked(std::unique_lock<std::mutex>& lock, std::vector<PooledConnection>& closing) {
  // New requests fail fast until a connect succeeds, and the idle connections (as
  // stuck as the one that told us) are dropped.
  for (auto& pooled : idle_) CloseLocked(std::move(pooled), CloseReason::kBroken, closing);
  idle_.clear();
  last_connect_failed_ = true;
  SetReachableLocked(false);
  FailWaitersLocked();
  connector_cv_.notify_one();
  lock.unlock();
  NotifyListener();
  lock.lock();
}

void Pool::ProbeIfQuietLocked(std::unique_lock<std::mutex>& lock) {
  if (!reachable_ || idle_.empty() || clock_.Now() - last_verified_ < kQuietBeforeProbe) return;
  PooledConnection probe = std::move(idle_.front());
  idle_.erase(idle_.begin());
  ++in_use_;
  lock.unlock();
  const auto ticket = watchdog_.Watch(probe.conn->socket(), clock_.Now() + kProbeLimit);
  absl::Status answered = probe.conn->Ping();
  if (watchdog_.Unwatch(ticket) != QueryWatchdog::Outcome::kNotCut) {
    answered = absl::DeadlineExceededError("no answer within the probe's limit");
  }
  std::vector<PooledConnection> closing;
  lock.lock();
  --in_use_;
  if (answered.ok()) {
    last_verified_ = clock_.Now();
    if (closed_) {
      CloseLocked(std::move(probe), CloseReason::kShutdown, closing);
    } else {
      HandOutLocked(std::move(probe), /*newly_opened=*/false);
    }
  } else {
    spdlog::warn("database stopped answering; probe failed reason=\"{}\"", std::string(answered.message()));
    CloseLocked(std::move(probe), CloseReason::kBroken, closing);
    DeclareUnreachableLocked(lock, closing);
  }
  lock.unlock();
  closing.clear();
  lock.lock();
}

bool Pool::NeedsConnectionLocked() const {
  const int total = static_cast<int>(idle_.size()) + in_use_ + opening_;
  if (total >= max_size_) return false;
  // While unreachable, keep probing (with backoff) so the pool heals without traffic.
  return !waiters_.empty() || static_cast<int>(idle_.size()) < min_idle_ || !reachable_;
}

void Pool::EvictIdleLocked(std::vector<PooledConnection>& closing) {
  const auto now = clock_.Now();
  // A waiter that wants a new connection, at a full pool: an idle one makes room.
  const bool fresh_waiting = std::any_of(waiters_.begin(), waiters_.end(), [](Waiter* w) { return w->fresh; });
  if (fresh_waiting && !idle_.empty() && static_cast<int>(idle_.size()) + in_use_ + opening_ >= max_size_) {
    CloseLocked(std::move(idle_.front()), CloseReason::kEvicted, closing);
    idle_.erase(idle_.begin());
  }
  // Oldest-used first: idle_ is ordered by return time, most recent at the back.
  for (auto it = idle_.begin(); it != idle_.end();) {
    const bool expired = now >= it->expires_at;
    const bool surplus = options_.idle_timeout.count() > 0 && static_cast<int>(idle_.size()) > min_idle_ &&
                         now - it->idle_since >= options_.idle_timeout;
    const bool dead = !expired && !surplus && it->conn->LooksDead();
    if (expired || surplus || dead) {
      CloseLocked(std::move(*it),
                  expired   ? CloseReason::kExpired
                  : surplus ? CloseReason::kIdle
                            : CloseReason::kDead,
                  closing);
      it = idle_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Pool::EvictDueLocked(std::unique_lock<std::mutex>& lock) {
  std::vector<PooledConnection> closing;
  EvictIdleLocked(closing);
  if (closing.empty()) return false;
  lock.unlock();
  closing.clear();
  lock.lock();
  return true;
}

void Pool::SetReachableLocked(bool reachable) {
  if (reachable_ == reachable) return;
  reachable_ = reachable;
  if (reachable) {
    spdlog::info("database reachable");
  } else {
    spdlog::warn("database unreachable; retrying with backoff");
  }
}

void Pool::ConnectorLoop() {
  std::unique_lock lock(mu_);
  while (!closed_) {
    if (EvictDueLocked(lock)) continue;
    ProbeIfQuietLocked(lock);
    if (closed_) break;
    if (!NeedsConnectionLocked()) {
      clock_.WaitUntil(connector_cv_, lock, clock_.Now() + kHousekeepingInterval);
      continue;
    }
    const auto wait = OpenOneLocked(lock);
    const auto retry_at = clock_.Now() + wait;
    while (!closed_ && clock_.Now() < retry_at) clock_.WaitUntil(connector_cv_, lock, retry_at);
  }
}

std::chrono::milliseconds Pool::OpenOneLocked(std::unique_lock<std::mutex>& lock) {
  ++opening_;
  lock.unlock();
  absl::StatusOr<std::unique_ptr<Connection>> opened = opener_();
  lock.lock();
  --opening_;
  const bool was_reachable = reachable_;
  consecutive_failures_ = opened.ok() ? 0 : consecutive_failures_ + 1;
  // One failure can be a blip (a reset connection): try again at once. Two in a row
  // open the circuit: requests fail fast until a connect succeeds.
  const bool circuit_open = consecutive_failures_ >= kFailuresToOpen;
  if (!opened.ok() && !circuit_open) return std::chrono::milliseconds(0);
  last_connect_failed_ = circuit_open;
  if (opened.ok()) {
    connect_failure_log_.Reset();
    ++opened_total_;
    last_verified_ = clock_.Now();
    SetReachableLocked(true);
    reconnect_backoff_.Reset();
    if (!closed_) HandOutLocked(Wrap(std::move(*opened)), /*newly_opened=*/true);
  } else {
    LogConnectFailure(opened.status());
    SetReachableLocked(false);
    FailWaitersLocked();
  }
  if (was_reachable != reachable_) {
    lock.unlock();
    NotifyListener();
    lock.lock();
  }
  return opened.ok() ? std::chrono::milliseconds(0) : reconnect_backoff_.Next();
}

void Pool::LogConnectFailure(const absl::Status& status) {
  uint64_t suppressed = 0;
  if (!connect_failure_log_.Allow(suppressed, clock_.Now())) return;
  spdlog::warn("database connect failed reason=\"{}\" failures_since_last_line={}", std::string(status.message()),
               suppressed);
}

bool Pool::Reachable() const {
  std::lock_guard lock(mu_);
  return reachable_;
}

void Pool::OnReachabilityChange(std::function<void(bool)> listener) {
  {
    std::lock_guard lock(listener_mu_);
    listener_ = std::move(listener);
  }
  NotifyListener();
}

void Pool::NotifyListener() {
  // Each call re-reads the state under listener_mu_, so the last call delivers the
  // latest state even when two race.
  std::lock_guard lock(listener_mu_);
  if (listener_) listener_(Reachable());
}

void Pool::Close() {
  std::vector<PooledConnection> closing;
  {
    std::lock_guard lock(mu_);
    if (closed_ && !connector_.joinable()) return;
    closed_ = true;
    for (Waiter* waiter : waiters_) {
      waiter->failure = absl::UnavailableError("server is shutting down");
      waiter->done = true;
      waiter->cv.notify_one();
    }
    waiters_.clear();
    for (auto& pooled : idle_) CloseLocked(std::move(pooled), CloseReason::kShutdown, closing);
    idle_.clear();
    connector_cv_.notify_all();
  }
  closing.clear();
  if (connector_.joinable()) connector_.join();
}

void Pool::Resize(int max_size, int min_idle) {
  std::vector<PooledConnection> closing;  // closed after the lock is released
  std::lock_guard lock(mu_);
  max_size_ = std::max(1, max_size);
  min_idle_ = std::clamp(min_idle, 0, max_size_);
  // Idle connections beyond the new bound close now, least recently used first;
  // busy ones close as they come back (Return), never under their user.
  while (!idle_.empty() && static_cast<int>(idle_.size()) + in_use_ + opening_ > max_size_) {
    CloseLocked(std::move(idle_.front()), CloseReason::kResized, closing);
    idle_.erase(idle_.begin());
  }
  connector_cv_.notify_one();  // a larger pool opens for its waiters and its idle floor
}

PoolStats Pool::Stats() const {
  std::lock_guard lock(mu_);
  PoolStats stats{static_cast<int>(idle_.size()), in_use_,       opening_,      waiters_.size(), reachable_,
                  last_connect_failed_,           opened_total_, closed_total_, leased_total_};
  stats.max_size = max_size_;
  return stats;
}

}  // namespace docgate::db
