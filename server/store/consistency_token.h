#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/write_position.h"

namespace docgate::store {

// A consistency token: where a write lies in the WAL (WritePosition), so any source
// that has replayed `lsn` shows the write, and a failover that lost it can say so.
// Its seal binds it to the database cluster that issued it (PostgreSQL's system
// identifier, which every streaming replica shares and no other cluster has).
std::string EncodeConsistencyToken(uint64_t system_identifier, const WritePosition& at);

// The position of a token EncodeConsistencyToken made for this cluster; a token of
// an earlier docgate (an LSN alone, bound or, from docgate 0.1, unbound) decodes
// with the rest unknown, so that a rolling upgrade fails no read. INVALID_ARGUMENT
// ("consistency_token: ...") for anything else, a token of another cluster
// included. What the position means on the database now is the caller's check
// (Cluster).
absl::StatusOr<WritePosition> DecodeConsistencyToken(const std::string& token, uint64_t system_identifier);

// PostgreSQL's text form of an LSN, "16/B374D848", as a number.
std::optional<uint64_t> ParseLsn(const std::string& text);

}  // namespace docgate::store
