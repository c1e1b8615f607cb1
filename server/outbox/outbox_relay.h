#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/common/clock.h"
#include "server/common/log_limiter.h"
#include "server/observability/outbox_metrics.h"
#include "server/outbox/redis_broker.h"
#include "server/store/outbox_store.h"

namespace docgate::outbox {

struct RelayOptions {
  // How often the outbox is looked at without a wake-up: what picks up the tasks of
  // an instance that crashed between its commit and the broker, and retries.
  std::chrono::milliseconds poll_interval{1000};
  size_t batch = 100;  // tasks claimed (and held locked) at once
  std::string origin;  // headers.origin of the messages: "docgate@HOST"
};

// Delivers the outbox's tasks to the broker, at least once each, with the same task
// id every time. One thread. It looks right after Wake() (a commit of this instance
// wrote tasks: no NOTIFY, which would serialise commits) and every poll interval;
// instances share the work through DeliverDue's FOR UPDATE SKIP LOCKED. While the
// broker is down it backs off (100 ms doubling to 5 s) without touching the
// database, and writes go on succeeding: their tasks wait in the outbox.
// Thread-safe (Wake, Stop).
class OutboxRelay {
 public:
  OutboxRelay(store::OutboxStore& store, std::unique_ptr<RedisBroker> broker, RelayOptions options,
              OutboxMetrics& metrics, Clock& clock = Clock::Real());
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
  std::vector<bool> Deliver(const std::vector<store::OutboxTask>& tasks);
  void ReportBacklog();

  store::OutboxStore& store_;
  const std::unique_ptr<RedisBroker> broker_;  // the thread's only
  const RelayOptions options_;
  OutboxMetrics& metrics_;
  Clock& clock_;
  Clock::time_point next_backlog_report_{};  // the thread's only
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
