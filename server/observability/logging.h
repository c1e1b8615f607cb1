#pragma once

#include <string>

#include "absl/status/status.h"

namespace docgate {

// Sets spdlog's default logger once, in main: to stderr, "text" or "json" lines
// (JSON with every message escaped), at `level` (spdlog's names); gRPC's own log
// lines go through it too. INVALID_ARGUMENT for an unknown format or level.
absl::Status SetUpLogging(const std::string& format, const std::string& level);

// Escapes `text` for a JSON string (without the quotes). Exposed for tests.
std::string JsonEscape(std::string_view text);

}  // namespace docgate
