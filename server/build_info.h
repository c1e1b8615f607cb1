#pragma once

namespace docgate {

// Set by the build: the project version, and the git revision it was configured
// from ("unknown" outside a git checkout; -DDOCGATE_REVISION=... overrides).
extern const char* const kDocgateVersion;
extern const char* const kDocgateRevision;

}  // namespace docgate
