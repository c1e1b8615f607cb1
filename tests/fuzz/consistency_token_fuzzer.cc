// libFuzzer target: consistency tokens and the read plan they feed. Any text is
// refused or is the one spelling EncodeConsistencyToken gives its position; the
// input is also sealed first, to reach the payload parser past the checksum.
// Also PostgreSQL's LSN text, which docgate parses from the server.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/service/read_plan.h"
#include "server/store/consistency_token.h"
#include "server/store/sealed_token.h"

namespace {

using namespace docgate;

void Decode(const std::string& token, int consistency) {
  auto lsn = store::DecodeConsistencyToken(token);
  if (lsn.ok() && store::EncodeConsistencyToken(*lsn) != token) std::abort();
  if (!lsn.ok() && lsn.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
  auto plan = service::PlanRead(consistency, token);
  if (plan.ok() != lsn.ok() && !token.empty() && consistency <= 3) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int consistency = data[0] % 5;  // 4: not a known value
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  Decode(text, consistency);
  Decode(store::Seal(text), consistency);
  store::ParseLsn(text);
  return 0;
}
