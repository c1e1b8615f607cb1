#pragma once

#include <algorithm>
#include <chrono>
#include <random>

namespace docgate {

// The wait between failed attempts to reach something (the database, a replica,
// the broker): it doubles from `initial` up to `max` after each failure, and each
// wait is drawn uniformly from its upper half, so that a fleet of instances does not
// retry in lockstep. Reset() after a success. One owner thread.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : initial_(initial), max_(std::max(initial, max)), next_(initial), rng_(std::random_device{}()) {}

  // The wait before the next attempt, in [d/2, d] for the current step d.
  std::chrono::milliseconds Next() {
    const auto d = next_;
    next_ = std::min(next_ * 2, max_);
    std::uniform_int_distribution<int64_t> jitter(d.count() / 2, d.count());
    return std::chrono::milliseconds(jitter(rng_));
  }

  // Whether the last attempt failed (a wait was drawn since the last Reset).
  bool failing() const { return next_ != initial_; }

  void Reset() { next_ = initial_; }

 private:
  const std::chrono::milliseconds initial_;
  const std::chrono::milliseconds max_;
  std::chrono::milliseconds next_;
  std::mt19937_64 rng_;
};

}  // namespace docgate
