#include "server/common/log_limiter.h"

#include <gtest/gtest.h>

namespace docgate {
namespace {

using std::chrono::milliseconds;

TEST(LogLimiter, LetsABurstThroughThenOneLinePerInterval) {
  LogLimiter limiter(3, milliseconds(100));
  const auto t0 = LogLimiter::Clock::now();
  uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(limiter.Allow(suppressed, t0));
    EXPECT_EQ(suppressed, 0u);
  }
  EXPECT_FALSE(limiter.Allow(suppressed, t0));
  EXPECT_FALSE(limiter.Allow(suppressed, t0 + milliseconds(99)));
  ASSERT_TRUE(limiter.Allow(suppressed, t0 + milliseconds(100)));
  EXPECT_EQ(suppressed, 2u) << "the line says how many it stands for";
  EXPECT_FALSE(limiter.Allow(suppressed, t0 + milliseconds(150)));
  ASSERT_TRUE(limiter.Allow(suppressed, t0 + milliseconds(200)));
  EXPECT_EQ(suppressed, 1u);
}

TEST(LogLimiter, AQuietSpellEarnsAtMostTheBurst) {
  LogLimiter limiter(2, milliseconds(100));
  const auto t0 = LogLimiter::Clock::now();
  uint64_t suppressed = 0;
  ASSERT_TRUE(limiter.Allow(suppressed, t0));
  ASSERT_TRUE(limiter.Allow(suppressed, t0));
  const auto later = t0 + std::chrono::seconds(60);
  EXPECT_TRUE(limiter.Allow(suppressed, later));
  EXPECT_TRUE(limiter.Allow(suppressed, later));
  EXPECT_FALSE(limiter.Allow(suppressed, later));
}

TEST(LogLimiter, ResetLetsTheNextLineThroughAtOnce) {
  LogLimiter limiter(1, std::chrono::seconds(30));
  const auto t0 = LogLimiter::Clock::now();
  uint64_t suppressed = 0;
  ASSERT_TRUE(limiter.Allow(suppressed, t0));
  EXPECT_FALSE(limiter.Allow(suppressed, t0 + milliseconds(1)));
  limiter.Reset();
  ASSERT_TRUE(limiter.Allow(suppressed, t0 + milliseconds(2)));
  EXPECT_EQ(suppressed, 1u);
}

}  // namespace
}  // namespace docgate
