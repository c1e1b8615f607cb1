#include "server/observability/recent_errors.h"

namespace docgate {

int64_t RecentErrors::SlotIndex(Clock::time_point t) const {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()) / kSlot;
}

void RecentErrors::Record(const std::string& method, int code, std::string_view message) {
  if (code <= 0 || code > 16) code = 2;  // UNKNOWN, as the wire would say
  const int64_t index = SlotIndex(clock_.Now());
  Error error{std::chrono::system_clock::now(), method, code, std::string(message.substr(0, kMessageChars))};
  std::lock_guard lock(mu_);
  Slot& slot = slots_[static_cast<size_t>(index) % kSlots];
  if (slot.index != index) slot = Slot{index, {}};
  ++slot.counts[code];
  latest_.push_front(std::move(error));
  if (latest_.size() > kKept) latest_.pop_back();
}

RecentErrors::Snapshot RecentErrors::Take() const {
  const int64_t now = SlotIndex(clock_.Now());
  Snapshot out;
  std::lock_guard lock(mu_);
  for (const Slot& slot : slots_) {
    if (slot.index < 0 || now - slot.index >= static_cast<int64_t>(kSlots)) continue;
    for (int code = 1; code < 17; ++code) {
      if (slot.counts[code] > 0) out.by_code[code] += slot.counts[code];
    }
  }
  out.latest.assign(latest_.begin(), latest_.end());
  return out;
}

}  // namespace docgate
