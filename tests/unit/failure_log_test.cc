#include "server/rpc/failure_log.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace docgate::rpc {
namespace {

using std::chrono::steady_clock;

// The default logger writes to `out` for the test's life, then is put back.
class FailureLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_ = spdlog::default_logger();
    auto logger = std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_st>(out_));
    logger->set_pattern("%l %v");
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  void TearDown() override { spdlog::set_default_logger(saved_); }

  // Lines that name `code`.
  int Logged(const std::string& code) const {
    std::istringstream lines(out_.str());
    int written = 0;
    for (std::string line; std::getline(lines, line);) written += line.find("code=" + code + " ") != std::string::npos;
    return written;
  }

  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> saved_;
};

// 20 lines at once, then one per 100 ms: how many a flood that lasted `took` may write.
int MostLines(steady_clock::duration took) { return 20 + 1 + static_cast<int>(took / std::chrono::milliseconds(100)); }

TEST_F(FailureLogTest, AFloodOfDataLossIsAFewErrorLinesAndAnOutageDoesNotHideIt) {
  const auto started = steady_clock::now();
  for (int i = 0; i < 500; ++i) {
    LogFailedRpc("GetDocument", "r", absl::UnavailableError("database unreachable"), std::chrono::milliseconds(1));
  }
  for (int i = 0; i < 500; ++i) {
    LogFailedRpc("GetDocument", "r", absl::DataLossError("the write this token names was lost"),
                 std::chrono::milliseconds(1));
  }
  const auto took = steady_clock::now() - started;
  const int lost_lines = Logged("DATA_LOSS");
  EXPECT_GE(lost_lines, 20) << "the outage's lines held back DATA_LOSS's:\n" << out_.str();
  EXPECT_LE(lost_lines, MostLines(took)) << out_.str();
  EXPECT_LE(Logged("UNAVAILABLE"), MostLines(took));
  EXPECT_NE(out_.str().find("error rpc failed request_id=r method=GetDocument code=DATA_LOSS"), std::string::npos)
      << "DATA_LOSS is an error:\n"
      << out_.str();
}

TEST_F(FailureLogTest, AClientsOwnMistakeIsLoggedEveryTime) {
  for (int i = 0; i < 50; ++i) {
    LogFailedRpc("GetDocument", "r", absl::InvalidArgumentError("id is not a UUID"), std::chrono::milliseconds(1));
  }
  EXPECT_EQ(Logged("INVALID_ARGUMENT"), 50);
}

}  // namespace
}  // namespace docgate::rpc
