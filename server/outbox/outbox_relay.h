#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/common/clock.h"
#include "server/common/log_limiter.h"
#include "server/observability/outbox_metrics.h"
#include "server/outbox/redis_broker.h"
#include "server/store/legacy_outbox_store.h"
#include "server/store/outbox_store.h"

namespace docgate::outbox {

struct RelayOptions {
  // How often the outbox is looked at without a wake-up: what picks up the tasks of
  // an instance that crashed between its commit and the broker, and retries.
  std::chrono::milliseconds poll_interval{1000};
  size_t batch = 1000;  // tasks handed over per round (one pipelined push)
  // The least time from one round's start to the next a wake-up starts (timed looks
  // are not held back): what a task may wait for the round before it to end.
  std::chrono::milliseconds round_gap{2};
  // How long the outbox's partition being written to is written to before the relay
  // truncates the other (once all of its tasks are delivered) and switches to it:
  // the table holds about twice this much of the write rate, and no dead rows.
  std::chrono::milliseconds rotate_every{2000};
  std::string origin;  // headers.origin of the messages: "docgate@HOST"
};

// Delivers the outbox's tasks to the broker, at least once each, with the same task
// id every time, in commit order. One thread. It looks right after Wake() (a commit
// of this instance wrote tasks: no NOTIFY, which would serialise commits) and every
// poll interval; instances take turns through OutboxStore's rounds, and whichever
// looks delivers every instance's tasks. Once a second it also rotates the outbox's
// partitions and drains the outbox of schema 4 (tasks an instance of an earlier
// version left). While the broker is down it backs off (100 ms doubling to 5 s)
// without touching the database, and writes go on succeeding: their tasks wait in
// the outbox.
// Thread-safe (Wake, Stop).
class OutboxRelay {
 public:
  OutboxRelay(store::OutboxStore& store, store::LegacyOutboxStore& legacy, std::unique_ptr<RedisBroker> broker,
              RelayOptions options, OutboxMetrics& metrics, Clock& clock = Clock::Real());
  ~OutboxRelay();  // Stop()
  OutboxRelay(const OutboxRelay&) = delete;
  OutboxRelay& operator=(const OutboxRelay&) = delete;

  // Never blocks.
  void Wake();
  // Ends the thread after the delivery under way, if any. Idempotent.
  void Stop();

 private:
  void Loop();
  // Delivers due tasks until none is left; false when the broker or the database failed.
  bool DeliverAll();
  // Rotation and the old outbox, once a second; false when the broker or the database failed.
  bool LookAfterTables();
  // Runs `round` (one batch handed to the broker) until a round hands over fewer than
  // a batch; false when the broker refused a task or the database failed (logged as
  // `failure`).
  using Round = std::function<absl::StatusOr<size_t>(const store::OutboxStore::Deliver&)>;
  bool Drain(const char* failure, const Round& round);
  std::vector<bool> Deliver(const std::vector<store::OutboxTask>& tasks);
  // Deliver, with broker_ok set false when the broker refused a task.
  store::OutboxStore::Deliver Delivering(bool& broker_ok);
  void ReportBacklog();
  void LogDatabaseFailure(const char* what, const absl::Status& status);

  store::OutboxStore& store_;
  store::LegacyOutboxStore& legacy_;
  const std::unique_ptr<RedisBroker> broker_;  // the thread's only
  const RelayOptions options_;
  OutboxMetrics& metrics_;
  Clock& clock_;
  Clock::time_point next_backlog_report_{};  // the thread's only
  Clock::time_point next_table_care_{};      // the thread's only
  // Each kind of failure: logged at once, then one line per 30 s while it lasts.
  LogLimiter broker_lines_{1, std::chrono::seconds(30)};
  LogLimiter db_lines_{1, std::chrono::seconds(30)};
  LogLimiter backlog_lines_{1, std::chrono::seconds(30)};

  std::mutex mu_;
  std::condition_variable cv_;
  bool woken_ = false;     // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace docgate::outbox
