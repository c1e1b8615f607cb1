#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/common/backoff.h"
#include "server/common/clock.h"
#include "server/db/connection.h"
#include "server/db/query_watchdog.h"
#include "server/db/sql_errors.h"

namespace docgate::db {

// One connection outside any pool, for a background thread's periodic queries (the
// visibility watcher's, a replica monitor's): opened on first use and again after
// a failure, with exponential backoff between failed connects (common/backoff.h);
// every query is cut by the watchdog past `limit` (a network that swallows
// packets). One owner thread.
class WatchedConnection {
 public:
  struct Options {
    std::chrono::milliseconds limit{1000};
    std::chrono::milliseconds initial_backoff{50};
    std::chrono::milliseconds max_backoff{1000};
  };

  WatchedConnection(ConnectionOpener open, QueryWatchdog& watchdog, Options options, Clock& clock = Clock::Real())
      : open_(std::move(open)),
        watchdog_(watchdog),
        options_(options),
        clock_(clock),
        backoff_(options.initial_backoff, options.max_backoff) {}

  // fn(pqxx::connection&) -> T on the connection. An error when there is none (a
  // connect failed: why; or it is backing off: UNAVAILABLE) or the query threw
  // (its status) or was cut (DEADLINE_EXCEEDED): the connection is then dropped, and
  // a later Run opens a new one.
  template <typename T, typename Fn>
  absl::StatusOr<T> Run(Fn&& fn) {
    if (auto s = Connect(); !s.ok()) return s;
    const auto ticket = watchdog_.Watch(conn_->socket(), clock_.Now() + options_.limit);
    absl::StatusOr<T> result = absl::InternalError("not run");
    try {
      result = fn(conn_->pq());
    } catch (const std::exception& e) {
      result = StatusFromException(e);
    }
    if (watchdog_.Unwatch(ticket) != QueryWatchdog::Outcome::kNotCut) {
      result = absl::DeadlineExceededError("no answer within " + std::to_string(options_.limit.count()) + " ms");
    }
    if (!result.ok()) conn_.reset();
    return result;
  }

  void Close() { conn_.reset(); }

 private:
  // Opens the connection when there is none and the backoff allows: OK when there is one.
  absl::Status Connect();

  const ConnectionOpener open_;
  QueryWatchdog& watchdog_;
  const Options options_;
  Clock& clock_;
  std::unique_ptr<Connection> conn_;
  Clock::time_point next_connect_at_{};
  Backoff backoff_;
};

}  // namespace docgate::db
