#include "workload.h"

#include <chrono>
#include <cstdio>

namespace loadgen {

bool ParseScenario(const std::string& text, Scenario* out) {
  if (text == "get")
    *out = Scenario::kGet;
  else if (text == "create")
    *out = Scenario::kCreate;
  else if (text == "mix")
    *out = Scenario::kMix;
  else if (text == "health")
    *out = Scenario::kHealth;
  else if (text == "ryw")
    *out = Scenario::kReadYourWrites;
  else if (text == "list")
    *out = Scenario::kList;
  else
    return false;
  return true;
}

std::string WarmId(int64_t index) {
  char id[64];
  std::snprintf(id, sizeof id, "00000000-0000-7000-8000-%012llx", static_cast<unsigned long long>(index));
  return id;
}

std::string NewId(std::mt19937_64& rng) {
  const uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  const uint64_t a = rng(), b = rng();
  char id[64];
  std::snprintf(id, sizeof id, "%08llx-%04llx-7%03llx-%04llx-%012llx",
                static_cast<unsigned long long>((ms >> 16) & 0xffffffff), static_cast<unsigned long long>(ms & 0xffff),
                static_cast<unsigned long long>(a & 0xfff),
                static_cast<unsigned long long>(0x8000 | ((a >> 12) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return id;
}

const std::string& CreateBody() {
  static const std::string body(1024, 'x');
  return body;
}

}  // namespace loadgen
