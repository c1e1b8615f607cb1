#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/clock.h"

namespace docgate {

// The calls that ended with an error lately, for the status page: how many of each
// gRPC code in the last kWindow (in kSlot steps: a count leaves the window up to
// one slot late), and the last kKept errors as their clients saw them (the message
// is the one sent on the wire, which never holds SQL). Thread-safe.
class RecentErrors {
 public:
  static constexpr std::chrono::seconds kWindow{300};
  static constexpr std::chrono::seconds kSlot{10};
  static constexpr size_t kKept = 20;
  static constexpr size_t kMessageChars = 200;

  struct Error {
    std::chrono::system_clock::time_point at;
    std::string method;
    int code = 0;
    std::string message;  // cut to kMessageChars
  };
  struct Snapshot {
    std::map<int, uint64_t> by_code;  // the window's counts, codes with none left out
    std::vector<Error> latest;        // newest first
  };

  explicit RecentErrors(Clock& clock = Clock::Real()) : clock_(clock) {}

  // A call of `method` ended with `code` (not OK) and `message`.
  void Record(const std::string& method, int code, std::string_view message);
  Snapshot Take() const;

 private:
  static constexpr size_t kSlots = kWindow / kSlot;
  struct Slot {
    int64_t index = -1;  // which kSlot since the clock's epoch these counts are of
    std::array<uint64_t, 17> counts{};
  };
  int64_t SlotIndex(Clock::time_point t) const;

  Clock& clock_;
  mutable std::mutex mu_;
  std::array<Slot, kSlots> slots_;  // by index % kSlots; guarded by mu_
  std::deque<Error> latest_;        // newest first; guarded by mu_
};

}  // namespace docgate
