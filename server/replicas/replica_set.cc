#include "server/replicas/replica_set.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/store/pg_document_store.h"
#include "spdlog/spdlog.h"

namespace docgate::replicas {
namespace {

// A position query slower than this is cut (and the replica leaves rotation); failed
// connects to a replica back off from 100 ms to 5 s.
constexpr db::WatchedConnection::Options kMonitor{std::chrono::milliseconds(1000), std::chrono::milliseconds(100),
                                                  std::chrono::milliseconds(5000)};

}  // namespace

ReplicaSet::ReplicaSet(store::DocumentStore& primary, store::Cluster& cluster, std::vector<ReplicaSpec> replicas,
                       ReplicaOptions options, ReplicaMetrics& metrics, db::QueryWatchdog& watchdog, Clock& clock)
    : primary_{kPrimarySource, &primary, -1, &metrics.reads(kPrimarySource)},
      cluster_(cluster),
      clock_(clock),
      options_(options),
      max_lag_bytes_(options.max_lag_bytes),
      metrics_(metrics) {
  for (auto& spec : replicas) {
    auto r = std::make_unique<Replica>();
    const std::string name = "replica:" + spec.endpoint;
    r->source = ReadSource{name, nullptr, static_cast<int>(replicas_.size()), &metrics_.reads(name)};
    r->pool = std::move(spec.pool);
    r->store = std::make_unique<store::PgDocumentStore>(*r->pool);
    r->source.store = r->store.get();
    r->monitor = std::make_unique<db::WatchedConnection>(std::move(spec.open_monitor), watchdog, kMonitor, clock_);
    r->lag = &metrics_.lag_bytes(spec.endpoint);
    r->rotation = &metrics_.in_rotation(spec.endpoint);
    replicas_.push_back(std::move(r));
  }
  if (!replicas_.empty()) thread_ = std::thread([this] { Loop(); });
}

void ReplicaSet::ResizePools(int max_size, int min_idle) {
  for (auto& r : replicas_) r->pool->Resize(max_size, min_idle);
}

ReplicaSet::~ReplicaSet() { Stop(); }

void ReplicaSet::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  Release(/*all=*/true);
  for (auto& r : replicas_) r->pool->Close();
}

void ReplicaSet::Route(ReadMode mode, uint64_t lsn, Clock::time_point deadline, Then then) {
  if (mode == ReadMode::kPrimary || replicas_.empty()) return then(primary_);
  if (const ReadSource* replica = Pick(mode == ReadMode::kAny ? 0 : lsn)) return then(*replica);
  if (mode == ReadMode::kAny || !AnyInRotation()) {
    metrics_.FellBack(Fallback::kNoReplica);
    return then(primary_);
  }
  const auto now = clock_.Now();
  const auto half_left = deadline == Clock::time_point::max() ? options_.max_wait : (deadline - now) / 2;
  const auto give_up_at = now + std::min<Clock::duration>(options_.max_wait, half_left);
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      waiters_.push_back(Waiter{lsn, give_up_at, std::move(then)});
      wake_.notify_all();
      return;
    }
  }
  then(primary_);
}

void ReplicaSet::MarkFailed(const ReadSource& source) {
  if (!source.is_replica()) return;
  SetRotation(*replicas_[static_cast<size_t>(source.replica)], false, "a read failed");
}

void ReplicaSet::SetRotation(Replica& r, bool in, const std::string& why) {
  r.rotation->Set(in ? 1 : 0);
  if (r.in_rotation.exchange(in) == in) return;
  if (in) {
    spdlog::info("replica joined rotation replica={}", r.source.name);
  } else {
    spdlog::warn("replica left rotation replica={} reason=\"{}\"", r.source.name, why);
  }
}

const ReadSource* ReplicaSet::Pick(uint64_t lsn) {
  const size_t n = replicas_.size();
  const size_t start = next_pick_.fetch_add(1, std::memory_order_relaxed);
  for (size_t i = 0; i < n; ++i) {
    const Replica& r = *replicas_[(start + i) % n];
    if (r.in_rotation.load() && r.replayed.load() >= lsn) return &r.source;
  }
  return nullptr;
}

bool ReplicaSet::AnyInRotation() const {
  return std::any_of(replicas_.begin(), replicas_.end(), [](const auto& r) { return r->in_rotation.load(); });
}

void ReplicaSet::Loop() {
  auto next_check = clock_.Now();
  while (true) {
    bool waiting;
    {
      std::unique_lock lock(mu_);
      // Polls every tick while reads wait; else sleeps until the next check or the first waiter.
      const bool idle = waiters_.empty();
      const auto until = idle ? next_check : std::min(next_check, clock_.Now() + options_.tick);
      while (!stopping_ && !(idle && !waiters_.empty()) && clock_.Now() < until) clock_.WaitUntil(wake_, lock, until);
      if (stopping_) break;
      waiting = !waiters_.empty();
    }
    if (clock_.Now() >= next_check) {
      CheckAll();
      next_check = clock_.Now() + options_.check_interval;
    } else if (waiting) {
      for (auto& r : replicas_) {
        if (r->in_rotation.load()) Poll(*r);
      }
    }
    Release(/*all=*/false);
  }
  for (auto& r : replicas_) r->monitor->Close();
}

void ReplicaSet::CheckAll() {
  db::QueryContext ctx;
  ctx.deadline = clock_.Now() + kMonitor.limit;
  ctx.acquire_by = clock_.Now() + kMonitor.limit / 4;
  // Without the primary's position (it is away) the last one known serves.
  if (auto lsn = primary_.store->CurrentWalPosition(ctx); lsn.ok()) {
    primary_lsn_ = std::max(primary_lsn_, *lsn);
  } else if (uint64_t suppressed = 0; primary_lines_.Allow(suppressed, clock_.Now())) {
    spdlog::warn("replica check: the primary's WAL position is unknown; the last one serves reason=\"{}\"",
                 std::string(lsn.status().message()));
  }
  cluster_.Reached(primary_lsn_);
  for (auto& r : replicas_) {
    if (!Poll(*r)) continue;  // Poll took it out of rotation
    const uint64_t replayed = r->replayed.load();
    const uint64_t lag = primary_lsn_ > replayed ? primary_lsn_ - replayed : 0;
    r->lag->Set(static_cast<double>(lag));
    SetRotation(*r, lag <= max_lag_bytes(), "lags beyond --max-replica-lag-bytes");
  }
}

bool ReplicaSet::Poll(Replica& r) {
  const auto at = r.monitor->Run<store::ReplayPosition>(&store::PgDocumentStore::ReplayedWalPosition);
  if (!at.ok()) {
    SetRotation(r, false, "it does not answer: " + std::string(at.status().message()));
    return false;
  }
  if (at->timeline != r.timeline.exchange(at->timeline)) {
    r.replayed.store(at->lsn);  // another timeline (a failover, a rewind): positions start over
  } else if (at->lsn > r.replayed.load()) {
    r.replayed.store(at->lsn);  // replay only moves forward; a restarted replica may report less for a moment
  }
  // A source on an earlier timeline than the primary's (a standby still following
  // the old primary, or an old primary not yet rewound) may lie past the switch
  // point on WAL the primary does not have: its positions say nothing of tokens.
  const uint32_t primary = cluster_.timeline();
  if (primary != 0 && at->timeline != 0 && at->timeline < primary) {
    const std::string why = absl::StrCat("it is on timeline ", at->timeline, ", before the primary's ", primary,
                                         ": a failover it has not followed yet");
    // Said once per primary timeline, whether or not it was in rotation just before.
    if (r.behind_said.exchange(primary) != primary) {
      spdlog::warn("replica serves no read replica={} reason=\"{}\"", r.source.name, why);
    }
    SetRotation(r, false, why);
    return false;
  }
  if (primary == 0 || at->timeline == primary) cluster_.Reached(at->lsn);  // replayed there, so written
  return true;
}

void ReplicaSet::Release(bool all) {
  struct Ready {
    Then then;
    const ReadSource* source;  // null: the primary
    Fallback why;
  };
  std::vector<Ready> ready;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    // With no replica left in rotation, waiting cannot help.
    const bool none = all || !AnyInRotation();
    auto keep = waiters_.begin();
    for (auto& w : waiters_) {
      const ReadSource* source = all ? nullptr : Pick(w.lsn);
      if (source != nullptr || none || now >= w.give_up_at) {
        ready.push_back(Ready{std::move(w.then), source, none ? Fallback::kNoReplica : Fallback::kWaitExpired});
      } else {
        *keep++ = std::move(w);
      }
    }
    waiters_.erase(keep, waiters_.end());
  }
  for (auto& r : ready) {
    if (r.source == nullptr) metrics_.FellBack(r.why);
    r.then(r.source != nullptr ? *r.source : primary_);
  }
}

}  // namespace docgate::replicas
