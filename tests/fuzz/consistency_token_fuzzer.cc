// libFuzzer target: consistency tokens and the read plan they feed. Any text is
// refused or is the one spelling EncodeConsistencyToken (or docgate 0.1) gives its
// position; the input is also sealed first, with and without the cluster's binding,
// to reach the payload parser past the checksum.
// Also PostgreSQL's LSN text, which docgate parses from the server.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/service/read_plan.h"
#include "server/store/cluster.h"
#include "server/store/consistency_token.h"
#include "server/store/sealed_token.h"

namespace {

using namespace docgate;

constexpr uint64_t kCluster = 1111;

// docgate 0.1's spelling of a position.
std::string LegacyToken(uint64_t lsn) {
  std::string payload(1, 'C');
  store::AppendBigEndian64(payload, lsn);
  return store::Seal(payload);
}

const store::Cluster& Cluster() {
  static const store::Cluster* cluster = [] {
    auto* c = new store::Cluster();
    c->SetSystemIdentifier(kCluster);
    return c;
  }();
  return *cluster;
}

void Decode(const std::string& token, int consistency) {
  auto lsn = store::DecodeConsistencyToken(token, kCluster);
  if (lsn.ok() && store::EncodeConsistencyToken(kCluster, *lsn) != token && LegacyToken(lsn->lsn) != token)
    std::abort();
  if (!lsn.ok() && lsn.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
  auto plan = service::PlanRead(consistency, token, Cluster());
  if (plan.ok() != lsn.ok() && !token.empty() && consistency <= 3) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int consistency = data[0] % 5;  // 4: not a known value
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  Decode(text, consistency);
  Decode(store::Seal(text), consistency);
  Decode(store::Seal(text, kCluster), consistency);
  store::ParseLsn(text);
  return 0;
}
