#pragma once

#include <cstdint>

namespace docgate::store {

// Where a committed write lies in the primary's WAL, as a consistency token carries
// it. `lsn` alone serves read-your-writes; the rest tells, after a failover to a
// standby that may have missed the newest commits, whether this write survived
// (TokenFate).
struct WritePosition {
  uint64_t lsn = 0;       // read after the commit returned: at or past the commit record's end
  uint32_t timeline = 0;  // the primary's timeline then; 0: unknown (a token of an earlier docgate)
  uint64_t xid = 0;       // the writing transaction (xid8); 0: unknown (a create that found its row)
  // A WAL position after a record of `xid` and before its commit record; 0: unknown.
  uint64_t before_commit = 0;
};

// How far a server has replayed WAL, and on which timeline (0: unknown).
struct ReplayPosition {
  uint64_t lsn = 0;
  uint32_t timeline = 0;
};

}  // namespace docgate::store
