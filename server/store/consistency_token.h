#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace docgate::store {

// A consistency token: the WAL position (LSN) of a write, read after its COMMIT,
// so any source that has replayed this position shows the write. Its seal binds it
// to the database cluster that issued it (PostgreSQL's system identifier, which
// every streaming replica shares and no other cluster has).
std::string EncodeConsistencyToken(uint64_t system_identifier, uint64_t lsn);

// The position of a token EncodeConsistencyToken made for this cluster, or of a
// token of docgate 0.1 (unbound: accepted so that a rolling upgrade fails no read;
// its position is checked like any other). INVALID_ARGUMENT ("consistency_token:
// ...") for anything else, a token of another cluster included. Whether the
// position is one the cluster has reached is the caller's check (Cluster).
absl::StatusOr<uint64_t> DecodeConsistencyToken(const std::string& token, uint64_t system_identifier);

// PostgreSQL's text form of an LSN, "16/B374D848", as a number.
std::optional<uint64_t> ParseLsn(const std::string& text);

}  // namespace docgate::store
