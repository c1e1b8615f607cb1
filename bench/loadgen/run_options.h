#pragma once

#include <cstdint>
#include <string>

#include "latency.h"
#include "workload.h"

namespace loadgen {

struct RunOptions {
  Scenario scenario = Scenario::kGet;
  int concurrency = 16;  // closed loop: operations in flight; libpq: connections
  double rate = 0;       // > 0: open loop at this many operations a second
  double warmup_s = 1;
  double duration_s = 5;
  int64_t warm_set = 10000;
  int threads = 2;   // gRPC completion-queue threads
  int channels = 0;  // gRPC channels (TCP connections); 0: min(concurrency, 64)
  std::string addr = "127.0.0.1:50051";
  std::string dsn;
  bool prepared = true;  // libpq: named prepared statements (PgBouncer: false)
  int consistency = 0;   // docgate GetDocument: docgate.v1.Consistency
  std::string token;     // docgate GetDocument: consistency_token
  std::string caller;    // docgate: sent as x-docgate-caller (fair admission's caller)
  int page_size = 1000;  // docgate ListDocuments (the list scenario)
  std::string enqueue;   // docgate creates: non-empty, each enqueues one Celery task on this queue
};

// The measurement window, as drivers see it. Begin() is called once connections are
// up and returns the window; AwaitEnd() returns once the window's end has been
// recorded, and drivers call it before closing connections (a backend that exits
// takes its CPU time out of sight until PostgreSQL reaps it).
class WindowClock {
 public:
  virtual ~WindowClock() = default;
  virtual Window Begin() = 0;
  virtual void AwaitEnd() = 0;
};

}  // namespace loadgen
