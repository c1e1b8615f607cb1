#pragma once

#include <pqxx/connection>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>

#include "server/db/pool.h"
#include "server/db/query_watchdog.h"

namespace docgate::db {

// One connection outside any pool, for a background thread's periodic queries (the
// visibility watcher's, a replica monitor's): opened on first use and again after
// a failure, with exponential backoff between failed connects; every query is cut
// by the watchdog past `limit` (a network that swallows packets). One owner thread.
class WatchedConnection {
 public:
  struct Options {
    std::chrono::milliseconds limit{1000};
    std::chrono::milliseconds initial_backoff{50};
    std::chrono::milliseconds max_backoff{1000};
  };

  WatchedConnection(ConnectionOpener open, QueryWatchdog& watchdog, Options options)
      : open_(std::move(open)), watchdog_(watchdog), options_(options) {}

  // fn(pqxx::connection&) -> T on the connection. nullopt when there is none (a
  // connect failed, or it is backing off) or the query failed, threw or was cut:
  // the connection is then dropped, and the next Run opens a new one.
  template <typename T, typename Fn>
  std::optional<T> Run(Fn&& fn) {
    if (!Connected()) return std::nullopt;
    const auto ticket = watchdog_.Watch(conn_->sock(), QueryWatchdog::Clock::now() + options_.limit);
    std::optional<T> result;
    try {
      result = fn(*conn_);
    } catch (const std::exception&) {
    }
    if (watchdog_.Unwatch(ticket) != QueryWatchdog::Outcome::kNotCut || !result.has_value()) {
      conn_.reset();
      return std::nullopt;
    }
    return result;
  }

  void Close() { conn_.reset(); }

 private:
  // Opens the connection when there is none and the backoff allows; whether there is one.
  bool Connected();

  const ConnectionOpener open_;
  QueryWatchdog& watchdog_;
  const Options options_;
  std::unique_ptr<pqxx::connection> conn_;
  Clock::time_point next_connect_at_{};
  std::chrono::milliseconds backoff_{0};
};

}  // namespace docgate::db
