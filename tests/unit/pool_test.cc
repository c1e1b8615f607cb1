// The pool on a fake clock and a fake database: lifetimes, idle timeout, liveness,
// backoff and the circuit, acquire deadlines and order, no dirty connection handed
// out. Each test runs in milliseconds of real time.
#include "server/db/pool.h"

#include <gtest/gtest.h>

#include <future>
#include <set>
#include <thread>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_database.h"

namespace docgate::db {
namespace {

using std::chrono::milliseconds;
using testing::Eventually;
using testing::FakeClock;
using testing::FakeConnection;
using testing::FakeDatabase;

constexpr auto kLong = std::chrono::hours(1);
// The connector's housekeeping period (pool.cc).
constexpr milliseconds kHousekeeping{250};

PoolOptions Options(int max_size, int min_idle) {
  PoolOptions options;
  options.max_size = max_size;
  options.min_idle = min_idle;
  options.max_lifetime = milliseconds(0);
  options.idle_timeout = milliseconds(0);
  return options;
}

const testing::FakeLink* LinkOf(Lease& lease) { return dynamic_cast<FakeConnection&>(lease.connection()).link(); }

class PoolTest : public ::testing::Test {
 protected:
  absl::StatusOr<Lease> Acquire(Pool& pool, milliseconds wait = milliseconds(kLong)) {
    return pool.Acquire(clock_.Now() + wait, clock_.Now() + wait);
  }
  // A housekeeping period of the connector, on the fake clock, and a pass that began
  // after it: the connector went to sleep twice since (the first sleep's pass may
  // have read the time before it moved).
  void Housekeep() {
    clock_.Advance(kHousekeeping);
    const uint64_t sleeps = clock_.timed_sleeps();
    ASSERT_TRUE(Eventually([&] { return clock_.timed_sleeps() >= sleeps + 2; }));
  }
  uint64_t Closed(Pool& pool, CloseReason reason) { return pool.Stats().closed_total[static_cast<int>(reason)]; }

  FakeClock clock_;
  FakeDatabase db_;
};

TEST_F(PoolTest, ConnectionsExpireWithinTheLastTenthOfTheirLifetime) {
  PoolOptions options = Options(10, 0);
  options.max_lifetime = milliseconds(10000);
  Pool pool(options, db_.Opener(), clock_);
  {
    std::vector<Lease> leases;
    for (int i = 0; i < 10; ++i) leases.push_back(*Acquire(pool));
  }
  ASSERT_EQ(pool.Stats().idle, 10);
  std::set<int> steps_that_closed;
  for (int step = 1; step <= 40; ++step) {  // 40 x 250 ms = the full lifetime
    const uint64_t before = Closed(pool, CloseReason::kExpired);
    Housekeep();
    const uint64_t after = Closed(pool, CloseReason::kExpired);
    if (step * kHousekeeping < milliseconds(9000)) {
      EXPECT_EQ(after, 0u) << "none expires before 90% of its lifetime";
    }
    if (after > before) steps_that_closed.insert(step);
  }
  EXPECT_EQ(Closed(pool, CloseReason::kExpired), 10u);
  // Jitter: they do not all go at once (all ten in one 250 ms step: p = 4e-6).
  EXPECT_GE(steps_that_closed.size(), 2u);
}

TEST_F(PoolTest, AnExpiredConnectionIsNeverHandedOut) {
  PoolOptions options = Options(2, 0);
  options.max_lifetime = milliseconds(1000);
  Pool pool(options, db_.Opener(), clock_);
  { auto lease = Acquire(pool); }
  clock_.Advance(milliseconds(1000));
  auto lease = Acquire(pool);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(LinkOf(*lease), db_.link(1).get());
  EXPECT_TRUE(db_.link(0)->closed);
}

TEST_F(PoolTest, IdleConnectionsBeyondMinIdleCloseAfterIdleTimeout) {
  PoolOptions options = Options(5, 1);
  options.idle_timeout = milliseconds(1000);
  Pool pool(options, db_.Opener(), clock_);
  ASSERT_TRUE(Eventually([&] { return pool.Stats().idle == 1; }));  // min_idle, opened at once
  {
    std::vector<Lease> leases;
    for (int i = 0; i < 3; ++i) leases.push_back(*Acquire(pool));
    // While all three are out, the connector keeps one idle: a fourth.
    ASSERT_TRUE(Eventually([&] { return pool.Stats().idle == 1; }));
  }
  const int opened = db_.opened();
  ASSERT_EQ(opened, 4);
  ASSERT_EQ(pool.Stats().idle, 4);
  for (int i = 0; i < 3; ++i) Housekeep();  // 750 ms
  EXPECT_EQ(pool.Stats().idle, 4);
  Housekeep();  // 1000 ms
  EXPECT_EQ(pool.Stats().idle, 1);
  EXPECT_EQ(Closed(pool, CloseReason::kIdle), 3u);
}

TEST_F(PoolTest, AConnectionTheServerClosedWhileIdleIsNotHandedOut) {
  Pool pool(Options(2, 0), db_.Opener(), clock_);
  { auto lease = Acquire(pool); }
  db_.link(0)->dead = true;
  auto lease = Acquire(pool);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(LinkOf(*lease), db_.link(1).get());
  EXPECT_EQ(Closed(pool, CloseReason::kDead), 1u);
}

TEST_F(PoolTest, AQuietPoolProbesAndAFailedProbeMakesItUnreachable) {
  Pool pool(Options(2, 1), db_.Opener(), clock_);
  ASSERT_TRUE(Eventually([&] { return pool.Stats().idle == 1 && pool.Reachable(); }));
  Housekeep();  // 250 ms of quiet: no probe yet
  EXPECT_EQ(db_.link(0)->pings, 0);
  Housekeep();  // 500 ms
  ASSERT_TRUE(Eventually([&] { return db_.link(0)->pings == 1; }));
  {
    std::lock_guard lock(db_.link(0)->mu);
    db_.link(0)->ping_answer = absl::UnavailableError("server closed the connection unexpectedly");
  }
  db_.SetDown(true);  // a partition: the probe fails, and so do connects
  Housekeep();
  Housekeep();
  ASSERT_TRUE(Eventually([&] { return !pool.Reachable(); }));
  EXPECT_TRUE(Eventually([&] { return db_.link(0)->closed.load(); }));
  auto refused = Acquire(pool);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);  // fast, not after a wait
}

TEST_F(PoolTest, AProbeThatHangsIsCutAtItsLimitOnTheClock) {
  Pool pool(Options(2, 1), db_.Opener(), clock_);
  ASSERT_TRUE(Eventually([&] { return pool.Stats().idle == 1 && pool.Reachable(); }));
  db_.link(0)->hang = true;  // a partition: the server never answers
  db_.SetDown(true);
  Housekeep();
  Housekeep();  // 500 ms of quiet: the probe starts, and hangs
  ASSERT_TRUE(Eventually([&] { return db_.link(0)->pings == 1; }));
  EXPECT_TRUE(pool.Reachable()) << "not before the probe's limit";
  clock_.Advance(milliseconds(700));  // the probe's limit (pool.cc): the watchdog cuts it
  ASSERT_TRUE(Eventually([&] { return !pool.Reachable(); }));
  EXPECT_TRUE(Eventually([&] { return db_.link(0)->closed.load(); }));  // closed outside the pool's lock, just after
}

TEST_F(PoolTest, ConnectsBackOffWithJitterAndTheCircuitOpensAfterTwoFailures) {
  PoolOptions options = Options(2, 1);
  options.reconnect_initial = milliseconds(100);
  options.reconnect_max = milliseconds(400);
  db_.SetDown(true);
  Pool pool(options, db_.Opener(), clock_);
  // One failure may be a blip: tried again at once. The second opens the circuit.
  ASSERT_TRUE(Eventually([&] { return db_.attempts() == 2; }));
  ASSERT_TRUE(Eventually([&] { return pool.Stats().circuit_open; }));
  EXPECT_EQ(Acquire(pool).status().code(), absl::StatusCode::kUnavailable);
  // Then each wait is drawn from the upper half of a step that doubles up to the cap.
  for (const int step_ms : {100, 200, 400, 400}) {
    const auto now = clock_.Now();
    const auto wake =
        clock_.AwaitSleeper([&](auto t) { return t > now + milliseconds(1) && t != now + kHousekeeping; });
    EXPECT_GE(wake - now, milliseconds(step_ms / 2)) << step_ms;
    EXPECT_LE(wake - now, milliseconds(step_ms)) << step_ms;
    const int attempts = db_.attempts();
    clock_.Advance(wake - now);
    ASSERT_TRUE(Eventually([&] { return db_.attempts() == attempts + 1; }));
  }
  db_.SetDown(false);
  clock_.Advance(milliseconds(400));
  ASSERT_TRUE(Eventually([&] { return pool.Reachable(); }));
  EXPECT_FALSE(pool.Stats().circuit_open);
  EXPECT_TRUE(Acquire(pool).ok());
}

TEST_F(PoolTest, AcquireGivesUpAtItsTimeWithTheRightCode) {
  Pool pool(Options(1, 0), db_.Opener(), clock_);
  auto held = Acquire(pool);
  ASSERT_TRUE(held.ok());
  // The RPC's own deadline first: DEADLINE_EXCEEDED. The acquire timeout first: UNAVAILABLE.
  for (const bool deadline_first : {true, false}) {
    const auto give_up = clock_.Now() + milliseconds(100);
    const auto rpc_deadline = deadline_first ? give_up : give_up + milliseconds(500);
    auto waiting = std::async(std::launch::async, [&] { return pool.Acquire(give_up, rpc_deadline); });
    ASSERT_EQ(clock_.AwaitSleeper([&](auto t) { return t == give_up; }), give_up);
    clock_.Advance(milliseconds(100));
    const auto got = waiting.get();
    EXPECT_EQ(got.status().code(),
              deadline_first ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kUnavailable);
  }
}

TEST_F(PoolTest, WaitersAreServedFirstComeFirstServed) {
  Pool pool(Options(1, 0), db_.Opener(), clock_);
  std::optional<Lease> held(*Acquire(pool));
  std::promise<void> first_got, second_got;
  std::promise<void> first_done;
  std::thread first([&] {
    auto lease = Acquire(pool);
    ASSERT_TRUE(lease.ok());
    first_got.set_value();
    first_done.get_future().wait();
  });
  ASSERT_TRUE(Eventually([&] { return pool.Stats().waiters == 1; }));
  std::thread second([&] {
    auto lease = Acquire(pool);
    ASSERT_TRUE(lease.ok());
    second_got.set_value();
  });
  ASSERT_TRUE(Eventually([&] { return pool.Stats().waiters == 2; }));
  held.reset();
  auto second_future = second_got.get_future();
  EXPECT_EQ(first_got.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(pool.Stats().waiters, 1u);  // the second still waits
  first_done.set_value();
  first.join();
  EXPECT_EQ(second_future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  second.join();
}

TEST_F(PoolTest, AConnectionMarkedUnusableIsClosedNotReturned) {
  Pool pool(Options(2, 0), db_.Opener(), clock_);
  {
    auto lease = Acquire(pool);
    lease->MarkUnusable();  // its state is unknown: an error libpq could not recover from
  }
  EXPECT_TRUE(db_.link(0)->closed);
  EXPECT_EQ(Closed(pool, CloseReason::kBroken), 1u);
  auto lease = Acquire(pool);
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(LinkOf(*lease), db_.link(1).get());
}

TEST_F(PoolTest, AnUnresponsiveConnectionMakesTheDatabaseUnreachable) {
  Pool pool(Options(3, 0), db_.Opener(), clock_);
  {
    auto idle = Acquire(pool);
    auto stuck = Acquire(pool);
    idle = absl::UnavailableError("returned");  // back to the idle list
    db_.SetDown(true);                          // the server stopped answering
    stuck->MarkUnresponsive();
  }
  // The idle one is as stuck as the one that told: both closed, requests fail fast.
  EXPECT_FALSE(pool.Reachable());
  EXPECT_TRUE(db_.link(0)->closed);
  EXPECT_TRUE(db_.link(1)->closed);
  EXPECT_EQ(Acquire(pool).status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(PoolTest, AFreshAcquireTakesANewConnectionEvictingAnIdleOneAtAFullPool) {
  Pool pool(Options(1, 0), db_.Opener(), clock_);
  { auto lease = Acquire(pool); }
  auto fresh = pool.Acquire(clock_.Now() + kLong, clock_.Now() + kLong, /*fresh=*/true);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(LinkOf(*fresh), db_.link(1).get());
  EXPECT_EQ(Closed(pool, CloseReason::kEvicted), 1u);
}

TEST_F(PoolTest, ShrinkingClosesIdleConnectionsAtOnceAndBusyOnesOnlyWhenTheyComeBack) {
  Pool pool(Options(4, 0), db_.Opener(), clock_);
  std::optional<Lease> first(*Acquire(pool));
  std::optional<Lease> second(*Acquire(pool));
  { auto idle = Acquire(pool), also_idle = Acquire(pool); }  // two idle, two busy
  pool.Resize(1, 0);
  EXPECT_EQ(pool.Stats().max_size, 1);
  EXPECT_EQ(pool.Stats().idle, 0);
  EXPECT_EQ(Closed(pool, CloseReason::kResized), 2u);
  EXPECT_FALSE(db_.link(0)->closed) << "never one in use";
  EXPECT_FALSE(db_.link(1)->closed);
  first.reset();  // back: over the bound, closed
  EXPECT_TRUE(db_.link(0)->closed);
  second.reset();  // back: within the bound, kept
  EXPECT_FALSE(db_.link(1)->closed);
  EXPECT_EQ(pool.Stats().idle, 1);
}

TEST_F(PoolTest, GrowingLetsWaitersHaveNewConnectionsAndFillsTheIdleFloor) {
  Pool pool(Options(1, 0), db_.Opener(), clock_);
  auto held = Acquire(pool);
  auto waiting = std::async(std::launch::async, [&] { return Acquire(pool).ok(); });
  ASSERT_TRUE(Eventually([&] { return pool.Stats().waiters == 1; }));
  pool.Resize(3, 2);
  EXPECT_TRUE(waiting.get()) << "served by a new connection while the first is still held";
  // The floor, opened in the background: the waiter's connection (back now) and one more.
  ASSERT_TRUE(Eventually([&] { return pool.Stats().idle == 2; }));
  EXPECT_EQ(db_.opened(), 3);
}

TEST_F(PoolTest, RefusesWaitersBeyondTheQueueBound) {
  PoolOptions options = Options(1, 0);
  options.max_waiters = 1;
  Pool pool(options, db_.Opener(), clock_);
  std::optional<Lease> held(*Acquire(pool));
  auto waiting = std::async(std::launch::async, [&] { return Acquire(pool).ok(); });
  ASSERT_TRUE(Eventually([&] { return pool.Stats().waiters == 1; }));
  const auto refused = Acquire(pool);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(refused.status().message()).find("too many"), std::string::npos);
  held.reset();
  EXPECT_TRUE(waiting.get());
}

}  // namespace
}  // namespace docgate::db
