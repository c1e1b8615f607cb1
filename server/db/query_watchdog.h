#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "server/common/clock.h"

namespace docgate::db {

// The hard bound on a database call: when a watched call outlives its cut-off, or
// its RPC is cancelled, the watchdog shuts the connection's socket down, so that the
// blocked libpq call returns at once and the connection is discarded. Used when
// PostgreSQL's own statement_timeout cannot help (a network that swallows packets,
// a cancelled RPC). Never blocks. One thread; cut-offs are read on `clock`.
// Thread-safe.
class QueryWatchdog {
 public:
  using Ticket = uint64_t;
  enum class Outcome { kNotCut, kCancelled, kTimedOut };

  explicit QueryWatchdog(Clock& clock = Clock::Real());
  ~QueryWatchdog();
  QueryWatchdog(const QueryWatchdog&) = delete;
  QueryWatchdog& operator=(const QueryWatchdog&) = delete;

  // Watches `socket` until Unwatch; cuts it at `cut_at` (Clock::time_point::max(): never).
  Ticket Watch(int socket, Clock::time_point cut_at);
  // Cuts the watched socket now (the RPC was cancelled).
  void CutNow(Ticket ticket);
  // Stops watching, and says whether (and why) the socket was cut; a cut
  // connection is unusable.
  Outcome Unwatch(Ticket ticket);

 private:
  struct Entry {
    int socket;
    Outcome cut = Outcome::kNotCut;
    std::multimap<Clock::time_point, Ticket>::iterator due;
  };
  void Loop();
  void CutLocked(Entry& entry, Outcome why);

  Clock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Ticket, Entry> entries_;
  std::multimap<Clock::time_point, Ticket> by_due_;
  // When the thread will next look by itself (max: not before it is woken).
  Clock::time_point wakes_at_ = Clock::time_point::min();
  Ticket next_ = 1;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace docgate::db
