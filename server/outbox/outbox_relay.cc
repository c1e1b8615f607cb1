#include "server/outbox/outbox_relay.h"

#include <algorithm>
#include <utility>

#include "server/common/backoff.h"
#include "server/outbox/celery_message.h"
#include "server/store/uuid.h"
#include "spdlog/spdlog.h"

namespace docgate::outbox {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{5000};
// The backlog's figures (no scan: an index probe and statistics) and the care of
// the outbox's tables, each once a second.
constexpr milliseconds kBacklogEvery{1000};
constexpr milliseconds kTableCareEvery{1000};

// The time one delivery round may take in the database (claim, pushes, commit).
db::QueryContext RoundContext(Clock::time_point now) {
  db::QueryContext ctx;
  ctx.deadline = now + std::chrono::seconds(10);
  ctx.acquire_by = now + std::chrono::seconds(2);
  return ctx;
}

}  // namespace

OutboxRelay::OutboxRelay(store::OutboxStore& store, store::LegacyOutboxStore& legacy,
                         std::unique_ptr<RedisBroker> broker, RelayOptions options, OutboxMetrics& metrics,
                         Clock& clock)
    : store_(store),
      legacy_(legacy),
      broker_(std::move(broker)),
      options_(std::move(options)),
      metrics_(metrics),
      clock_(clock) {
  thread_ = std::thread([this] { Loop(); });
}

OutboxRelay::~OutboxRelay() { Stop(); }

void OutboxRelay::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void OutboxRelay::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void OutboxRelay::Loop() {
  Backoff backoff(kFirstBackoff, kMaxBackoff);
  bool last_round_ok = false;
  auto next_look = clock_.Now();
  Clock::time_point last_round{};
  while (true) {
    bool woken = false;
    {
      std::unique_lock lock(mu_);
      // Backing off, a wake-up does not hasten the next try: the broker is down.
      while (!stopping_ && !(woken_ && !backoff.failing()) && clock_.Now() < next_look) {
        clock_.WaitUntil(cv_, lock, next_look);
      }
      // Wake-ups that come faster than round_gap share a round: under load one round
      // carries the tasks of several commits, at a cost of at most round_gap.
      const auto earliest = last_round + options_.round_gap;
      while (!stopping_ && woken_ && clock_.Now() < earliest) clock_.WaitUntil(cv_, lock, earliest);
      if (stopping_) return;
      woken = std::exchange(woken_, false);
    }
    // A wake-up after a good round goes straight to delivery (a failed push says
    // the broker is down as well); timed looks and retries ask the broker first,
    // so that its state shows and no task is claimed while it is known down.
    const absl::Status ready = woken && last_round_ok ? absl::OkStatus() : broker_->Ready();
    if (!ready.ok()) {
      last_round_ok = false;
      metrics_.broker_up.Set(0);
      uint64_t suppressed = 0;
      if (broker_lines_.Allow(suppressed, clock_.Now())) {
        spdlog::warn("broker unreachable: tasks wait in the outbox reason=\"{}\"", std::string(ready.message()));
      }
      next_look = clock_.Now() + backoff.Next();
      ReportBacklog();
      continue;
    }
    if (backoff.failing()) spdlog::info("broker reachable again: delivering the outbox");
    metrics_.broker_up.Set(1);
    backoff.Reset();
    last_round = clock_.Now();
    last_round_ok = DeliverAll() && LookAfterTables();
    next_look = clock_.Now() + (last_round_ok ? options_.poll_interval : kFirstBackoff);
    ReportBacklog();
  }
}

bool OutboxRelay::DeliverAll() {
  return Drain("outbox delivery round failed: tasks stay in the outbox",
               [this](const store::OutboxStore::Deliver& deliver) {
                 return store_.DeliverRound(options_.batch, deliver, RoundContext(clock_.Now()));
               });
}

bool OutboxRelay::LookAfterTables() {
  if (clock_.Now() < next_table_care_) return true;
  next_table_care_ = clock_.Now() + kTableCareEvery;
  if (const auto rotated = store_.Rotate(options_.rotate_every, RoundContext(clock_.Now())); !rotated.ok()) {
    LogDatabaseFailure("outbox rotation failed: delivered tasks stay until the next", rotated.status());
  }
  return Drain("delivery from the schema 4 outbox failed: its tasks stay there",
               [this](const store::OutboxStore::Deliver& deliver) {
                 return legacy_.DeliverDue(options_.batch, deliver, RoundContext(clock_.Now()));
               });
}

bool OutboxRelay::Drain(const char* failure, const Round& round) {
  bool broker_ok = true;
  const auto deliver = Delivering(broker_ok);
  while (broker_ok) {
    const auto handed = round(deliver);
    if (!handed.ok()) {
      LogDatabaseFailure(failure, handed.status());
      return false;
    }
    if (*handed < options_.batch) break;
  }
  return broker_ok;
}

store::OutboxStore::Deliver OutboxRelay::Delivering(bool& broker_ok) {
  return [this, &broker_ok](const std::vector<store::OutboxTask>& tasks) {
    auto delivered = Deliver(tasks);
    broker_ok = std::all_of(delivered.begin(), delivered.end(), [](bool d) { return d; });
    return delivered;
  };
}

void OutboxRelay::LogDatabaseFailure(const char* what, const absl::Status& status) {
  uint64_t suppressed = 0;
  if (db_lines_.Allow(suppressed, clock_.Now())) {
    spdlog::warn("{} reason=\"{}\"", what, std::string(status.message()));
  }
}

std::vector<bool> OutboxRelay::Deliver(const std::vector<store::OutboxTask>& tasks) {
  std::vector<RedisBroker::Message> messages;
  messages.reserve(tasks.size());
  for (const store::OutboxTask& t : tasks) {
    messages.push_back({t.queue, CeleryMessage(t, options_.origin, store::NewUuidV7())});
  }
  const size_t pushed = broker_->PushAll(messages);
  std::vector<bool> delivered(tasks.size(), false);
  for (size_t i = 0; i < tasks.size(); ++i) {
    if (i >= pushed) {
      metrics_.failed(tasks[i].queue).Increment();  // the rest wait too: the broker is failing
      continue;
    }
    delivered[i] = true;
    metrics_.delivered(tasks[i].queue).Increment();
    metrics_.commit_to_broker_seconds.Observe(tasks[i].age_seconds);
  }
  if (pushed < tasks.size()) metrics_.broker_up.Set(0);
  return delivered;
}

void OutboxRelay::ReportBacklog() {
  if (clock_.Now() < next_backlog_report_) return;
  const auto backlog = store_.Backlog(RoundContext(clock_.Now()));
  next_backlog_report_ = clock_.Now() + kBacklogEvery;
  if (!backlog.ok()) {
    if (uint64_t suppressed = 0; backlog_lines_.Allow(suppressed, clock_.Now())) {
      spdlog::warn("outbox backlog not counted; its gauges keep their last values reason=\"{}\"",
                   std::string(backlog.status().message()));
    }
    return;
  }
  metrics_.backlog.Set(static_cast<double>(backlog->tasks));
  metrics_.oldest_seconds.Set(backlog->oldest_seconds);
}

}  // namespace docgate::outbox
