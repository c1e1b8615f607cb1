#pragma once

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "absl/status/status.h"
#include "server/db/connection.h"

namespace docgate::testing {

// What a test sees and steers of one fake connection; shared with the connection.
struct FakeLink {
  std::atomic<bool> dead{false};    // LooksDead() says so (the server closed it while idle)
  std::atomic<bool> hang{false};    // Ping() blocks until the watchdog cuts the socket
  std::atomic<bool> closed{false};  // the pool destroyed it
  std::atomic<int> pings{0};
  std::mutex mu;
  absl::Status ping_answer;  // guarded by mu
};

// Its socket is one end of a socketpair, so that the watchdog's cut (shutdown) ends
// a hung call as it ends a blocked libpq read.
class FakeConnection final : public db::Connection {
 public:
  explicit FakeConnection(std::shared_ptr<FakeLink> link) : link_(std::move(link)) {
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_) != 0) fds_[0] = fds_[1] = -1;
  }
  ~FakeConnection() override {
    link_->closed = true;
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }

  const FakeLink* link() const { return link_.get(); }

  pqxx::connection& pq() override { throw std::logic_error("a fake connection runs no statements"); }
  int socket() override { return fds_[0]; }
  bool LooksDead() override { return link_->dead; }
  absl::Status Ping() override {
    ++link_->pings;
    if (link_->hang) {
      pollfd p{fds_[0], POLLIN, 0};
      ::poll(&p, 1, 10000);  // the peer never writes: only a cut (or 10 real seconds) ends it
      return absl::UnavailableError("server closed the connection unexpectedly");
    }
    std::lock_guard lock(link_->mu);
    return link_->ping_answer;
  }

 private:
  std::shared_ptr<FakeLink> link_;
  int fds_[2] = {-1, -1};
};

// A database the pool connects to without PostgreSQL: up or down on cue, every
// connection it opened kept in view. Thread-safe.
class FakeDatabase {
 public:
  db::ConnectionOpener Opener() {
    return [this]() -> absl::StatusOr<std::unique_ptr<db::Connection>> {
      std::lock_guard lock(mu_);
      ++attempts_;
      if (down_) return absl::UnavailableError("cannot connect to the database: fake refusal");
      links_.push_back(std::make_shared<FakeLink>());
      return std::make_unique<FakeConnection>(links_.back());
    };
  }

  void SetDown(bool down) {
    std::lock_guard lock(mu_);
    down_ = down;
  }
  int attempts() const {
    std::lock_guard lock(mu_);
    return attempts_;
  }
  int opened() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(links_.size());
  }
  // The i-th connection opened (from 0).
  std::shared_ptr<FakeLink> link(int i) const {
    std::lock_guard lock(mu_);
    return links_.at(static_cast<size_t>(i));
  }

 private:
  mutable std::mutex mu_;
  bool down_ = false;
  int attempts_ = 0;
  std::vector<std::shared_ptr<FakeLink>> links_;
};

}  // namespace docgate::testing
