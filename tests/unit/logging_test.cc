#include "server/observability/logging.h"

#include <gtest/gtest.h>

namespace docgate {
namespace {

TEST(LoggingTest, JsonEscapeHandlesQuotesControlsAndKeepsUtf8) {
  EXPECT_EQ(JsonEscape("say \"hi\"\\"), "say \\\"hi\\\"\\\\");
  EXPECT_EQ(JsonEscape("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(JsonEscape(std::string("\x01\x7f", 2)), "\\u0001\\u007f");
  EXPECT_EQ(JsonEscape("日本"), "日本");
}

TEST(LoggingTest, RejectsUnknownFormat) {
  EXPECT_EQ(SetUpLogging("xml", "info").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace docgate
