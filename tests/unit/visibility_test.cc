// The waiter registry and consistency tokens: WaitVisible's pure parts.
#include <gtest/gtest.h>

#include <atomic>

#include "server/store/consistency_token.h"
#include "server/store/sealed_token.h"
#include "server/visibility/waiter_registry.h"

namespace docgate {
namespace {

using visibility::Clock;
using visibility::WaiterRegistry;

class RecordingWaiter : public visibility::Waiter {
 public:
  void Wake() override { ++wakes; }
  void End(absl::Status why) override { ended = why; }
  std::atomic<int> wakes{0};
  absl::Status ended;
};

constexpr auto kLater = std::chrono::hours(1);

TEST(WaiterRegistryTest, WakesOnlyTheWaitersOfThatId) {
  WaiterRegistry registry(10, nullptr);
  auto a = std::make_shared<RecordingWaiter>();
  auto b = std::make_shared<RecordingWaiter>();
  auto a2 = std::make_shared<RecordingWaiter>();
  ASSERT_TRUE(registry.Add("a", a, Clock::now() + kLater).ok());
  ASSERT_TRUE(registry.Add("b", b, Clock::now() + kLater).ok());
  ASSERT_TRUE(registry.Add("a", a2, Clock::now() + kLater).ok());
  registry.Wake("a");
  EXPECT_EQ(a->wakes, 1);
  EXPECT_EQ(a2->wakes, 1);
  EXPECT_EQ(b->wakes, 0);
  EXPECT_EQ(registry.size(), 3u);  // woken waiters stay until they remove themselves
  registry.Remove("a", a.get());
  registry.Remove("a", a.get());  // twice is harmless
  EXPECT_EQ(registry.size(), 2u);
}

TEST(WaiterRegistryTest, RefusesPastTheLimit) {
  WaiterRegistry registry(1, nullptr);
  ASSERT_TRUE(registry.Add("a", std::make_shared<RecordingWaiter>(), Clock::now() + kLater).ok());
  EXPECT_EQ(registry.Add("b", std::make_shared<RecordingWaiter>(), Clock::now() + kLater).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(WaiterRegistryTest, ExpiresOnlyWhatIsDue) {
  WaiterRegistry registry(10, nullptr);
  auto soon = std::make_shared<RecordingWaiter>();
  auto later = std::make_shared<RecordingWaiter>();
  const auto now = Clock::now();
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
  ASSERT_TRUE(registry.Add("id-1", w, Clock::now() + kLater).ok());
  EXPECT_EQ(registry.PendingIdsLiteral(), "{id-1}");
  ASSERT_TRUE(registry.Add("id-1", std::make_shared<RecordingWaiter>(), Clock::now() + kLater).ok());
  EXPECT_EQ(registry.PendingIdsLiteral(), "{id-1}");  // one entry per id
  registry.Remove("id-1", w.get());
  EXPECT_EQ(registry.PendingIdsLiteral(), "{id-1}");
}

TEST(WaiterRegistryTest, EndAllEndsEveryoneAndRefusesNewcomers) {
  WaiterRegistry registry(10, nullptr);
  auto w = std::make_shared<RecordingWaiter>();
  ASSERT_TRUE(registry.Add("a", w, Clock::now() + kLater).ok());
  registry.EndAll(absl::UnavailableError("bye"));
  EXPECT_EQ(w->ended.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(registry.size(), 0u);
  EXPECT_EQ(registry.Add("b", w, Clock::now() + kLater).code(), absl::StatusCode::kUnavailable);
}

TEST(ConsistencyTokenTest, RoundTripsAndRejectsForgeries) {
  const uint64_t cluster = 7713780524097078169u;
  const uint64_t lsn = (uint64_t{0x16} << 32) | 0xB374D848;
  const std::string token = store::EncodeConsistencyToken(cluster, lsn);
  EXPECT_EQ(*store::DecodeConsistencyToken(token, cluster), lsn);
  std::string tampered = token;
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  for (const std::string& bad : {std::string("16/B374D848"), tampered, std::string("x"), token + "A"}) {
    EXPECT_EQ(store::DecodeConsistencyToken(bad, cluster).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ConsistencyTokenTest, IsBoundToTheClusterThatIssuedIt) {
  const std::string token = store::EncodeConsistencyToken(1111, 42);
  EXPECT_EQ(*store::DecodeConsistencyToken(token, 1111), 42u);
  EXPECT_EQ(store::DecodeConsistencyToken(token, 2222).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store::DecodeConsistencyToken(token, 0).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ConsistencyTokenTest, AcceptsTheUnboundTokensOfDocgate01) {
  // docgate 0.1's spelling: 'C', the position, sealed with nothing. Its position is
  // checked against the primary's like any other (DocumentService).
  std::string payload(1, 'C');
  store::AppendBigEndian64(payload, 42);
  EXPECT_EQ(*store::DecodeConsistencyToken(store::Seal(payload), 1111), 42u);
  // The new kind sealed with nothing is not a 0.1 token.
  EXPECT_EQ(store::DecodeConsistencyToken(store::EncodeConsistencyToken(0, 42), 1111).status().code(),
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
