#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace docgate {

// The caller of work no one named: no token, no x-docgate-caller header.
inline constexpr char kAnonymousCaller[] = "anonymous";

// What a caller's name may be (the x-docgate-caller header, a --config file's
// callers): 1 to 64 of these characters; kCallerNameRule says so to people.
inline constexpr char kCallerNameRule[] = "1 to 64 of A-Z a-z 0-9 . _ : @ / -";
inline bool IsCallerName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && std::string_view("._:@/-").find(c) == std::string_view::npos) return false;
  }
  return true;
}

// What one caller may take of the database work.
struct CallerShare {
  double weight = 1.0;    // its share relative to the other callers with work waiting
  int max_running = 0;    // at most this many of its tasks run at once; 0: no cap of its own
  size_t max_queued = 0;  // at most this many wait; 0: no cap of its own

  bool operator==(const CallerShare& o) const {
    return weight == o.weight && max_running == o.max_running && max_queued == o.max_queued;
  }
};

// How the work queue shares the database between callers. Changes at run time
// (the --config file).
struct AdmissionPolicy {
  // Weighted fair queuing across callers; false: first come, first served, no
  // per-caller caps (the behaviour before fair admission, kept to compare).
  bool fair = true;
  // Work that waited this long for a slot while others ran is refused
  // (UNAVAILABLE: the server is overloaded) rather than left to wait for its
  // acquire timeout or deadline. 0: only those bound the wait.
  std::chrono::milliseconds max_queue_wait{0};
  // While several callers are active, each holds at most the slots the others do
  // not keep back for their own demand (FairScheduler): a flood of long calls cannot
  // take every slot from a caller between two short calls. Off: weights alone.
  bool share_cap = true;
  // The settings of every caller not named in `callers`, each on its own.
  CallerShare default_share;
  std::map<std::string, CallerShare> callers;

  const CallerShare& ShareOf(const std::string& caller) const {
    auto it = callers.find(caller);
    return it == callers.end() ? default_share : it->second;
  }
  bool operator==(const AdmissionPolicy& o) const {
    return fair == o.fair && max_queue_wait == o.max_queue_wait && share_cap == o.share_cap &&
           default_share == o.default_share && callers == o.callers;
  }
};

}  // namespace docgate
