// The waiter registry and consistency tokens: WaitVisible's pure parts.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "server/store/consistency_token.h"
#include "server/store/sealed_token.h"
#include "server/visibility/waiter_registry.h"
#include "tests/fakes/fake_clock.h"

namespace docgate {
namespace {

using visibility::WaiterRegistry;

class RecordingWaiter : public visibility::Waiter {
 public:
  void Wake(std::shared_ptr<const visibility::Sighting> seen) override {
    ++wakes;
    last_seen = std::move(seen);
  }
  void End(absl::Status why) override { ended = why; }
  std::atomic<int> wakes{0};
  std::shared_ptr<const visibility::Sighting> last_seen;
  absl::Status ended;
};

constexpr auto kLater = std::chrono::hours(1);

store::Document Row(const std::string& id) {
  store::Document row;
  row.id = id;
  row.name = "n";
  return row;
}

// The registry reads no clock: expiry is told the time. A fixed "now".
const Clock::time_point kNow = Clock::time_point() + std::chrono::hours(1);

TEST(WaiterRegistryTest, WakesOnlyTheWaitersOfThatId) {
  WaiterRegistry registry(10, nullptr);
  auto a = std::make_shared<RecordingWaiter>();
  auto b = std::make_shared<RecordingWaiter>();
  auto a2 = std::make_shared<RecordingWaiter>();
  ASSERT_TRUE(registry.Add("a", a, kNow + kLater).ok());
  ASSERT_TRUE(registry.Add("b", b, kNow + kLater).ok());
  ASSERT_TRUE(registry.Add("a", a2, kNow + kLater).ok());
  const std::string body = "the body";
  registry.Wake(Row("a"), &body);
  EXPECT_EQ(a->wakes, 1);
  EXPECT_EQ(a2->wakes, 1);
  EXPECT_EQ(b->wakes, 0);
  // Both get the row in hand, with its body: one copy for them all.
  ASSERT_NE(a->last_seen, nullptr);
  EXPECT_EQ(a->last_seen, a2->last_seen);
  EXPECT_TRUE(a->last_seen->has_body);
  EXPECT_EQ(a->last_seen->document.body, body);
  EXPECT_EQ(a->last_seen->document.name, "n");
  registry.Wake(Row("b"), nullptr);  // a status move: the row, but no body in hand
  EXPECT_FALSE(b->last_seen->has_body);
  EXPECT_EQ(registry.size(), 3u);  // woken waiters stay until they remove themselves
  registry.Remove("a", a.get());
  registry.Remove("a", a.get());  // twice is harmless
  EXPECT_EQ(registry.size(), 2u);
}

TEST(WaiterRegistryTest, RefusesPastTheLimit) {
  WaiterRegistry registry(1, nullptr);
  ASSERT_TRUE(registry.Add("a", std::make_shared<RecordingWaiter>(), kNow + kLater).ok());
  EXPECT_EQ(registry.Add("b", std::make_shared<RecordingWaiter>(), kNow + kLater).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(WaiterRegistryTest, ExpiresOnlyWhatIsDue) {
  WaiterRegistry registry(10, nullptr);
  auto soon = std::make_shared<RecordingWaiter>();
  auto later = std::make_shared<RecordingWaiter>();
  const auto now = kNow;
  ASSERT_TRUE(registry.Add("x", soon, now + std::chrono::seconds(1)).ok());
  ASSERT_TRUE(registry.Add("x", later, now + kLater).ok());
  registry.ExpireDue(now + std::chrono::seconds(2));
  EXPECT_EQ(soon->ended.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(later->ended.ok());
  EXPECT_EQ(registry.size(), 1u);
}

TEST(WaiterRegistryTest, PendingIdsLiteralFollowsTheSetOfIds) {
  WaiterRegistry registry(10, nullptr);
  EXPECT_EQ(registry.PendingIdsLiteral(), "");
  auto w = std::make_shared<RecordingWaiter>();
  auto w2 = std::make_shared<RecordingWaiter>();
  ASSERT_TRUE(registry.Add("id-1", w, kNow + kLater).ok());
  EXPECT_EQ(registry.PendingIdsLiteral(), R"({"id-1"})");
  ASSERT_TRUE(registry.Add("id-1", w2, kNow + kLater).ok());
  EXPECT_EQ(registry.PendingIdsLiteral(), R"({"id-1"})");  // one entry per id
  registry.Remove("id-1", w.get());
  EXPECT_EQ(registry.PendingIdsLiteral(), R"({"id-1"})");  // w2 still waits
  registry.Remove("id-1", w2.get());
  EXPECT_EQ(registry.PendingIdsLiteral(), "");  // nobody waits: nothing to check
}

TEST(WaiterRegistryTest, NextIdsGoesRoundEveryIdInSlices) {
  WaiterRegistry registry(10, nullptr);
  for (const char* id : {"c", "a", "b", "a"})
    ASSERT_TRUE(registry.Add(id, std::make_shared<RecordingWaiter>(), kNow + kLater).ok());
  EXPECT_EQ(registry.ids(), 3u);
  EXPECT_EQ(registry.NextIds(2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(registry.NextIds(2), (std::vector<std::string>{"c", "a"}));       // wraps around
  EXPECT_EQ(registry.NextIds(5), (std::vector<std::string>{"b", "c", "a"}));  // never one twice in a call
  EXPECT_TRUE(registry.Waits("b"));
  EXPECT_FALSE(registry.Waits("d"));
}

TEST(WaiterRegistryTest, AwaitWaitersReturnsAtItsTimeOnTheClock) {
  testing::FakeClock clock;
  WaiterRegistry registry(10, nullptr, clock);
  const auto until = clock.Now() + std::chrono::milliseconds(100);
  std::thread watcher([&] { registry.AwaitWaiters(until); });
  ASSERT_EQ(clock.AwaitSleeper([&](auto t) { return t == until; }), until);
  clock.Advance(std::chrono::milliseconds(100));
  watcher.join();  // returns although nobody registered
}

TEST(WaiterRegistryTest, EndAllEndsEveryoneAndRefusesNewcomers) {
  WaiterRegistry registry(10, nullptr);
  auto w = std::make_shared<RecordingWaiter>();
  ASSERT_TRUE(registry.Add("a", w, kNow + kLater).ok());
  registry.EndAll(absl::UnavailableError("bye"));
  EXPECT_EQ(w->ended.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_EQ(registry.Add("b", w, kNow + kLater).code(), absl::StatusCode::kUnavailable);
}

TEST(ConsistencyTokenTest, RoundTripsAndRejectsForgeries) {
  const uint64_t cluster = 7713780524097078169u;
  const uint64_t lsn = (uint64_t{0x16} << 32) | 0xB374D848;
  const std::string token = store::EncodeConsistencyToken(cluster, store::WritePosition{lsn});
  EXPECT_EQ(store::DecodeConsistencyToken(token, cluster)->lsn, lsn);
  std::string tampered = token;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {std::string("16/B374D848"), tampered, std::string("x"), token + "A"}) {
    EXPECT_EQ(store::DecodeConsistencyToken(bad, cluster).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ConsistencyTokenTest, IsBoundToTheClusterThatIssuedIt) {
  const std::string token = store::EncodeConsistencyToken(1111, store::WritePosition{42});
  EXPECT_EQ(store::DecodeConsistencyToken(token, 1111)->lsn, 42u);
  EXPECT_EQ(store::DecodeConsistencyToken(token, 2222).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store::DecodeConsistencyToken(token, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConsistencyTokenTest, AcceptsTheUnboundTokensOfDocgate01) {
  // docgate 0.1's spelling: 'C', the position, sealed with nothing. Its position is
  // checked against the primary's like any other (DocumentService).
  std::string payload(1, 'C');
  store::AppendBigEndian64(payload, 42);
  EXPECT_EQ(store::DecodeConsistencyToken(store::Seal(payload), 1111)->lsn, 42u);
  // The new kind sealed with nothing is not a 0.1 token.
  EXPECT_EQ(
      store::DecodeConsistencyToken(store::EncodeConsistencyToken(0, store::WritePosition{42}), 1111).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(ConsistencyTokenTest, ParsesPostgresLsnText) {
  EXPECT_EQ(store::ParseLsn("0/16B3748"), 0x16B3748u);
  EXPECT_EQ(store::ParseLsn("16/B374D848"), (uint64_t{0x16} << 32) | 0xB374D848);
  EXPECT_EQ(store::ParseLsn("FFFFFFFF/FFFFFFFF"), ~uint64_t{0});
  for (const char* bad : {"", "/", "0/", "/1", "12345", "1/2/3", "G/1", "123456789/1"}) {
    EXPECT_FALSE(store::ParseLsn(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace docgate
