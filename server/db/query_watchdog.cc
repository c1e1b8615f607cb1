#include "server/db/query_watchdog.h"

#include <sys/socket.h>

namespace docgate::db {

QueryWatchdog::QueryWatchdog(Clock& clock) : clock_(clock), thread_([this] { Loop(); }) {}

QueryWatchdog::~QueryWatchdog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

QueryWatchdog::Ticket QueryWatchdog::Watch(int socket, Clock::time_point cut_at) {
  std::lock_guard lock(mu_);
  const Ticket ticket = next_++;
  auto due = cut_at == Clock::time_point::max() ? by_due_.end() : by_due_.emplace(cut_at, ticket);
  entries_.emplace(ticket, Entry{socket, Outcome::kNotCut, due});
  // Wake the thread only when this cut is due before it would wake anyway: most
  // statements end long before their cut, and a wake-up per statement cost a
  // context switch per RPC.
  if (cut_at < wakes_at_) cv_.notify_all();
  return ticket;
}

void QueryWatchdog::CutLocked(Entry& entry, Outcome why) {
  if (entry.cut != Outcome::kNotCut) return;
  entry.cut = why;
  // The descriptor stays open (libpq owns it); its blocked reads and writes fail now.
  ::shutdown(entry.socket, SHUT_RDWR);
}

void QueryWatchdog::CutNow(Ticket ticket) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket);
  if (it != entries_.end()) CutLocked(it->second, Outcome::kCancelled);
}

QueryWatchdog::Outcome QueryWatchdog::Unwatch(Ticket ticket) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(ticket);
  if (it == entries_.end()) return Outcome::kNotCut;
  const Outcome cut = it->second.cut;
  if (it->second.due != by_due_.end()) by_due_.erase(it->second.due);
  entries_.erase(it);
  return cut;
}

void QueryWatchdog::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    // Sleeps until the first cut is due (max: until woken).
    const auto due = by_due_.empty() ? Clock::time_point::max() : by_due_.begin()->first;
    if (clock_.Now() < due) {
      wakes_at_ = due;
      clock_.WaitUntil(cv_, lock, due);
      continue;
    }
    const Ticket ticket = by_due_.begin()->second;
    by_due_.erase(by_due_.begin());
    auto it = entries_.find(ticket);
    if (it != entries_.end()) {
      it->second.due = by_due_.end();
      CutLocked(it->second, Outcome::kTimedOut);
    }
  }
}

}  // namespace docgate::db
