#pragma once

#include "latency.h"
#include "run_options.h"

namespace loadgen {

// Drives docgate through the completion-queue async stub: `concurrency` calls in
// flight (closed loop), or calls started at `rate` whatever is outstanding (open
// loop, latency measured from each call's intended start).
RunTotals RunDocgate(const RunOptions& options, WindowClock& clock);

}  // namespace loadgen
