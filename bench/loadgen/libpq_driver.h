#pragma once

#include <string>

#include "latency.h"
#include "run_options.h"

namespace loadgen {

// What a worker holding its own connection does: one libpq connection per client
// (`concurrency` of them), the same statements docgate runs, prepared once per
// connection unless `prepared` is false (PgBouncer's transaction mode).
RunTotals RunLibpq(const RunOptions& options, WindowClock& clock);

// Inserts the warm set (WarmId(0..n-1), 1 KiB bodies) unless present.
bool SeedWarmSet(const std::string& dsn, int64_t n, std::string* error);

}  // namespace loadgen
