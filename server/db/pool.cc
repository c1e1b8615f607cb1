#include "server/db/pool.h"

#include <pqxx/connection>

#include <algorithm>
#include <random>

#include "spdlog/spdlog.h"

namespace docgate::db {

Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), usable_(other.usable_) {
  other.pool_ = nullptr;
}

Lease::~Lease() {
  if (pool_ != nullptr && conn_ != nullptr) pool_->Return(std::move(conn_), usable_);
}

Pool::Pool(PoolOptions options, ConnectionOpener opener)
    : options_(options), opener_(std::move(opener)), connector_([this] { ConnectorLoop(); }) {}

Pool::~Pool() { Close(); }

absl::StatusOr<Lease> Pool::Acquire(Clock::time_point give_up_at, Clock::time_point rpc_deadline) {
  std::unique_lock lock(mu_);
  if (closed_) return absl::UnavailableError("server is shutting down");
  if (!idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    ++in_use_;
    return Lease(this, std::move(conn));
  }
  // Before the first attempt has finished, wait for it; after a failed one, fail fast.
  if (last_connect_failed_) return absl::UnavailableError("database unavailable");
  if (waiters_.size() >= options_.max_waiters) {
    return absl::UnavailableError("too many requests waiting for a database connection");
  }
  Waiter waiter;
  waiters_.push_back(&waiter);
  connector_cv_.notify_one();
  while (!waiter.done) {
    if (waiter.cv.wait_until(lock, give_up_at) == std::cv_status::timeout && !waiter.done) {
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &waiter));
      if (give_up_at >= rpc_deadline) return absl::DeadlineExceededError("deadline passed waiting for a connection");
      return absl::UnavailableError("no database connection within the acquire timeout");
    }
  }
  if (!waiter.failure.ok()) return waiter.failure;
  return Lease(this, std::move(waiter.conn));
}

void Pool::HandOutLocked(std::unique_ptr<pqxx::connection> conn) {
  if (waiters_.empty()) {
    idle_.push_back(std::move(conn));
    return;
  }
  Waiter* waiter = waiters_.front();
  waiters_.pop_front();
  waiter->conn = std::move(conn);
  waiter->done = true;
  ++in_use_;
  waiter->cv.notify_one();
}

void Pool::Return(std::unique_ptr<pqxx::connection> conn, bool usable) {
  std::unique_ptr<pqxx::connection> to_close;
  {
    std::lock_guard lock(mu_);
    --in_use_;
    if (usable && !closed_ && conn->is_open()) {
      HandOutLocked(std::move(conn));
    } else {
      to_close = std::move(conn);
      connector_cv_.notify_one();  // a replacement may be needed
    }
  }
  // Closing talks to the server: not under the lock.
}

bool Pool::NeedsConnectionLocked() const {
  const int total = static_cast<int>(idle_.size()) + in_use_ + opening_;
  if (total >= options_.max_size) return false;
  // While unreachable, keep probing (with backoff) so the pool heals without traffic.
  return !waiters_.empty() || static_cast<int>(idle_.size()) < options_.min_idle || !reachable_;
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
  std::mt19937_64 rng(std::random_device{}());
  auto backoff = options_.reconnect_initial;
  std::unique_lock lock(mu_);
  while (!closed_) {
    if (!NeedsConnectionLocked()) {
      connector_cv_.wait(lock);
      continue;
    }
    ++opening_;
    lock.unlock();
    absl::StatusOr<std::unique_ptr<pqxx::connection>> opened = opener_();
    lock.lock();
    --opening_;
    const bool was_reachable = reachable_;
    last_connect_failed_ = !opened.ok();
    if (opened.ok()) {
      failures_unlogged_ = -1;
      SetReachableLocked(true);
      backoff = options_.reconnect_initial;
      if (closed_) break;  // the connection closes as `opened` goes out of scope
      HandOutLocked(std::move(*opened));
    } else {
      LogConnectFailure(opened.status());
      SetReachableLocked(false);
      // Nobody should wait for a connection that cannot be made: fail fast.
      while (!waiters_.empty()) {
        Waiter* waiter = waiters_.front();
        waiters_.pop_front();
        waiter->failure = absl::UnavailableError("database unavailable");
        waiter->done = true;
        waiter->cv.notify_one();
      }
    }
    if (was_reachable != reachable_) {
      lock.unlock();
      NotifyListener();
      lock.lock();
    }
    if (!opened.ok()) {
      // Full jitter: a fleet of instances does not reconnect in lockstep.
      std::uniform_int_distribution<int64_t> jitter(backoff.count() / 2, backoff.count());
      connector_cv_.wait_for(lock, std::chrono::milliseconds(jitter(rng)), [this] { return closed_; });
      backoff = std::min(backoff * 2, options_.reconnect_max);
    }
  }
}

void Pool::LogConnectFailure(const absl::Status& status) {
  // The first failure after a success (or at start) at once, then one line per
  // interval with the count in between: an outage must not flood the log.
  constexpr auto kInterval = std::chrono::seconds(30);
  const auto now = Clock::now();
  if (!reachable_ && failures_unlogged_ >= 0 && now - last_failure_log_ < kInterval) {
    ++failures_unlogged_;
    return;
  }
  spdlog::warn("database connect failed reason=\"{}\" failures_since_last_line={}", std::string(status.message()),
               failures_unlogged_ < 0 ? 0 : failures_unlogged_);
  last_failure_log_ = now;
  failures_unlogged_ = 0;
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
  std::vector<std::unique_ptr<pqxx::connection>> to_close;
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
    to_close.swap(idle_);
    connector_cv_.notify_all();
  }
  to_close.clear();
  if (connector_.joinable()) connector_.join();
}

PoolStats Pool::Stats() const {
  std::lock_guard lock(mu_);
  return PoolStats{static_cast<int>(idle_.size()), in_use_, opening_, waiters_.size(), reachable_};
}

}  // namespace docgate::db
