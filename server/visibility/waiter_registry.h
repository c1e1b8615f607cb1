#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/gauge.h>

#include "absl/status/status.h"
#include "server/common/clock.h"
#include "server/store/document.h"

namespace docgate::visibility {

// A document as a commit or the watcher just saw it, shared by every waiter it wakes.
struct Sighting {
  store::Document document;  // its body only when has_body
  bool has_body = false;
};

// One pending WaitVisible call, as the registry sees it. Both calls may come from
// any thread, after the waiter has left the registry too; they must not block.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // The document is visible now (`seen`: the row in hand, so no read is needed),
  // or may be (`seen` null: look again).
  virtual void Wake(std::shared_ptr<const Sighting> seen) = 0;
  // The wait is over without the document: its time passed (DEADLINE_EXCEEDED),
  // the server shuts down (UNAVAILABLE), or the client went away.
  virtual void End(absl::Status why) = 0;
};

// The in-process registry of waiters by document id. Holds no thread per waiter:
// waiters are woken by writes of this instance (right after COMMIT) and by the
// visibility watcher (writes of anyone else). Thread-safe.
class WaiterRegistry {
 public:
  // `waiting` (may be null) follows size(); AwaitWaiters sleeps on `clock`.
  WaiterRegistry(size_t max_waiters, prometheus::Gauge* waiting, Clock& clock = Clock::Real())
      : max_waiters_(max_waiters), waiting_(waiting), clock_(clock) {}

  // RESOURCE_EXHAUSTED when `max_waiters` are already waiting; UNAVAILABLE after EndAll.
  absl::Status Add(const std::string& id, const std::shared_ptr<Waiter>& waiter, Clock::time_point expires_at);

  // Forgets `waiter` (no-op when it is gone already).
  void Remove(const std::string& id, const Waiter* waiter);

  // Wakes every waiter for `row`'s id with the row (and `body`, when not null),
  // copied once for them all and only when someone waits for it; they stay
  // registered until they Remove themselves. Wake() runs outside the registry's lock.
  void Wake(const store::Document& row, const std::string* body);

  // Removes the waiters whose time has passed and ends them with DEADLINE_EXCEEDED.
  void ExpireDue(Clock::time_point now);

  // Ends every waiter with `why` and refuses new ones (shutdown).
  void EndAll(const absl::Status& why);

  // The ids waited for, as a PostgreSQL array literal (store/pg_array.h), rebuilt only
  // when the set of ids changed; empty when nobody waits.
  std::string PendingIdsLiteral();

  size_t size() const;

  // Changes the --max-waiters bound for waiters added from now on (a reload).
  void SetMaxWaiters(size_t max_waiters);

  // Whether someone waits for `id`.
  bool Waits(const std::string& id) const;

  // How many ids are waited for (several waiters may wait for one).
  size_t ids() const;

  // Up to `n` of the ids waited for, those after the ones the last call returned
  // (in id order, wrapping around): successive calls go round them all.
  std::vector<std::string> NextIds(size_t n);

  // Blocks until a waiter is registered, `until` passes, or Interrupt() is called.
  void AwaitWaiters(Clock::time_point until);
  void Interrupt();

 private:
  struct Entry {
    std::shared_ptr<Waiter> waiter;
    std::multimap<Clock::time_point, std::pair<std::string, Waiter*>>::iterator expiry;
  };

  void CountLocked(size_t count);

  size_t max_waiters_;  // guarded by mu_
  prometheus::Gauge* const waiting_;
  Clock& clock_;
  mutable std::mutex mu_;
  std::condition_variable added_cv_;
  std::map<std::string, std::vector<Entry>> by_id_;  // ordered: NextIds goes round it
  std::multimap<Clock::time_point, std::pair<std::string, Waiter*>> by_expiry_;
  size_t count_ = 0;
  bool interrupted_ = false;
  bool closed_ = false;
  bool ids_dirty_ = true;
  std::string ids_literal_;
  std::string next_after_;  // NextIds' cursor
};

}  // namespace docgate::visibility
