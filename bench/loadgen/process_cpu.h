#pragma once

#include <sys/types.h>
#include <string>
#include <vector>

namespace loadgen {

// A process whose CPU time the run reports, as given by --cpu NAME:PID[:tree].
// With `tree`, its children count too: the live ones, and the ones it has reaped
// (a PostgreSQL backend that exits is accounted into the postmaster's cutime).
struct WatchedProcess {
  std::string name;
  pid_t pid = 0;
  bool tree = false;
};

// Parses NAME:PID[:tree]; false when malformed.
bool ParseWatchedProcess(const std::string& text, WatchedProcess* out);

// CPU seconds (user + system) used so far; 0 when the process is gone.
double CpuSeconds(const WatchedProcess& process);

// This process's own CPU seconds, all threads.
double OwnCpuSeconds();

}  // namespace loadgen
