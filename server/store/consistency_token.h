#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace docgate::store {

// A consistency token: the WAL position (LSN) of a write, read after its COMMIT,
// so any source that has replayed this position shows the write.
std::string EncodeConsistencyToken(uint64_t lsn);

// INVALID_ARGUMENT ("consistency_token: ...") for anything EncodeConsistencyToken
// did not make.
absl::StatusOr<uint64_t> DecodeConsistencyToken(const std::string& token);

// PostgreSQL's text form of an LSN, "16/B374D848", as a number.
std::optional<uint64_t> ParseLsn(const std::string& text);

}  // namespace docgate::store
