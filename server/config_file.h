#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/config.h"

namespace docgate {

// `flags` with the values of its --config file over them (the file is read now);
// `flags` itself when there is no file. INVALID_ARGUMENT, naming the file and the
// first problem, when the file cannot be read, does not parse, or holds a value
// out of range: such a file changes nothing.
absl::StatusOr<Config> WithConfigFile(const Config& flags);

// The same from the text read from flags.config_file (nullopt: it could not be read).
absl::StatusOr<Config> WithConfigText(const Config& flags, const std::optional<std::string>& text);

// The same from the file's text (proto/docgate/config/v1/runtime_config.proto, as JSON).
absl::StatusOr<Config> ApplyConfigJson(const Config& flags, const std::string& json);

// Whether `a` and `b` differ in anything a reload may change.
bool RuntimeDiffers(const Config& a, const Config& b);

}  // namespace docgate
