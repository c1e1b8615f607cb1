#include "server/db/watched_connection.h"

#include <algorithm>

namespace docgate::db {

bool WatchedConnection::Connected() {
  if (conn_ != nullptr) return true;
  if (Clock::now() < next_connect_at_) return false;
  auto opened = open_();
  if (!opened.ok()) {
    backoff_ = std::clamp(backoff_ * 2, options_.initial_backoff, options_.max_backoff);
    next_connect_at_ = Clock::now() + backoff_;
    return false;
  }
  conn_ = std::move(*opened);
  backoff_ = std::chrono::milliseconds(0);
  return true;
}

}  // namespace docgate::db
