#pragma once

#include <pqxx/connection>

#include <algorithm>
#include <exception>

#include "absl/status/statusor.h"
#include "server/db/pool.h"
#include "server/db/sql_errors.h"

namespace docgate::db {

// The time limits of one database operation.
struct QueryContext {
  // The RPC's own deadline: past it the caller gets DEADLINE_EXCEEDED.
  Clock::time_point deadline = Clock::time_point::max();
  // The acquire timeout, counted from the request's arrival: past it, UNAVAILABLE.
  Clock::time_point acquire_by = Clock::now() + std::chrono::seconds(5);
};

// Runs `fn(pqxx::connection&)` -> absl::StatusOr<T> on a leased connection. Every
// exception becomes a Status here (sql_errors.h), and a connection left in an
// unknown state is discarded instead of returned. The one place where an
// operation meets the pool: deadlines, cancellation and retries belong here.
template <typename T, typename Fn>
absl::StatusOr<T> WithConnection(Pool& pool, const QueryContext& ctx, Fn&& fn) {
  auto lease = pool.Acquire(std::min(ctx.deadline, ctx.acquire_by), ctx.deadline);
  if (!lease.ok()) return lease.status();
  try {
    return fn(lease->connection());
  } catch (const std::exception& e) {
    if (LeavesConnectionUnusable(e)) lease->MarkUnusable();
    return StatusFromException(e);
  }
}

}  // namespace docgate::db
