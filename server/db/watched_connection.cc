#include "server/db/watched_connection.h"

namespace docgate::db {

absl::Status WatchedConnection::Connect() {
  if (conn_ != nullptr) return absl::OkStatus();
  if (clock_.Now() < next_connect_at_) return absl::UnavailableError("waiting to connect again after a failure");
  auto opened = open_();
  if (!opened.ok()) {
    next_connect_at_ = clock_.Now() + backoff_.Next();
    return opened.status();
  }
  conn_ = std::move(*opened);
  backoff_.Reset();
  return absl::OkStatus();
}

}  // namespace docgate::db
