#include "server/rpc/call_deadline.h"

namespace docgate::rpc {
namespace {

// gRPC's deadline timer runs on another clock and may fire a little before the
// deadline it reports has passed on the system clock.
constexpr auto kDeadlineTolerance = std::chrono::milliseconds(50);

// gRPC states deadlines on the system clock: passed or not is asked of that clock.
bool DeadlinePassed(const grpc::CallbackServerContext& context) {
  return context.deadline() <= std::chrono::system_clock::now() + kDeadlineTolerance;
}

}  // namespace

db::QueryContext QueryContextFor(const grpc::CallbackServerContext& context, Clock::time_point started,
                                 const CallLimits& limits) {
  db::QueryContext ctx;
  ctx.acquire_by = started + limits.acquire_timeout();
  ctx.statement_timeout = limits.statement_timeout();
  const auto deadline = context.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    // The time left, as gRPC's system clock says, counted on ours from the arrival.
    ctx.deadline = started + std::chrono::duration_cast<Clock::duration>(deadline - std::chrono::system_clock::now());
  }
  return ctx;
}

void PassOnCancellation(const grpc::CallbackServerContext& context, db::CancelSignal* signal) {
  if (signal != nullptr && !DeadlinePassed(context)) signal->Cancel();
}

absl::Status CancellationStatus(const grpc::CallbackServerContext& context) {
  if (DeadlinePassed(context)) return absl::DeadlineExceededError("deadline passed");
  return absl::CancelledError("cancelled by the client");
}

}  // namespace docgate::rpc
