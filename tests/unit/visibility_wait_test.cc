// WaitVisible's state machine without gRPC or PostgreSQL: looks run when the test
// says, on a fake clock. Each test names the race it settles.
#include "server/visibility/visibility_wait.h"

#include <gtest/gtest.h>

#include <deque>
#include <stdexcept>

#include "tests/fakes/fake_clock.h"

namespace docgate::visibility {
namespace {

constexpr char kId[] = "0190b6c4-6f0e-7a3c-9b1d-2e4f6a8c0d12";

// The wait's surroundings: a work queue the test drains by hand, scripted looks,
// and the call's one ending.
class WaitHarness {
 public:
  explicit WaitHarness(bool wants_body = false) : wants_body_(wants_body) {}

  std::shared_ptr<VisibilityWait> Start(Clock::time_point expires_at) {
    auto wait = std::make_shared<VisibilityWait>(registry_, kId, expires_at, Actions());
    wait->Start();
    return wait;
  }

  VisibilityWait::Actions Actions() {
    return VisibilityWait::Actions{[this](std::function<void()> job, std::function<void(absl::Status)> rejected) {
                                     queued_.push_back({std::move(job), std::move(rejected)});
                                   },
                                   [this] {
                                     ++looks;
                                     if (during_look) during_look();
                                     if (looks_answer.empty()) return absl::NotFoundError("no document has this id");
                                     absl::Status s = looks_answer.front();
                                     looks_answer.pop_front();
                                     return s;
                                   },
                                   [this](const Sighting& seen) {
                                     if (wants_body_ && !seen.has_body) return false;
                                     answered_from = seen.document.id;
                                     return true;
                                   },
                                   [this](absl::Status status) {
                                     ++finishes;
                                     finished = status;
                                   }};
  }

  // Runs the oldest queued look; false when none is queued.
  bool RunQueued() {
    if (queued_.empty()) return false;
    auto job = std::move(queued_.front());
    queued_.pop_front();
    job.first();
    return true;
  }
  void RejectQueued(absl::Status why) {
    auto job = std::move(queued_.front());
    queued_.pop_front();
    job.second(why);
  }
  size_t queued() const { return queued_.size(); }

  void Commit(bool with_body) {
    store::Document row;
    row.id = kId;
    row.body = "body";
    registry_.Wake(row, with_body ? &row.body : nullptr);
  }

  testing::FakeClock clock;
  WaiterRegistry registry_{100, nullptr, clock};
  std::deque<absl::Status> looks_answer;  // after these, NOT_FOUND
  std::function<void()> during_look;
  int looks = 0;
  int finishes = 0;
  absl::Status finished = absl::UnknownError("not finished");
  std::string answered_from;

 private:
  const bool wants_body_;
  std::deque<std::pair<std::function<void()>, std::function<void(absl::Status)>>> queued_;
};

const auto kLater = std::chrono::seconds(30);

TEST(VisibilityWaitTest, TheFirstLookFindsTheDocument) {
  WaitHarness h;
  h.looks_answer = {absl::OkStatus()};
  auto wait = h.Start(h.clock.Now() + kLater);
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.finishes, 1);
  EXPECT_TRUE(h.finished.ok());
  EXPECT_EQ(h.registry_.size(), 0u);
}

TEST(VisibilityWaitTest, ACommitWithTheRowAnswersWithoutALook) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  ASSERT_TRUE(h.RunQueued());  // the first look: not there yet
  ASSERT_EQ(h.finishes, 0);
  h.Commit(/*with_body=*/true);
  EXPECT_EQ(h.finishes, 1);
  EXPECT_TRUE(h.finished.ok());
  EXPECT_EQ(h.answered_from, kId);
  EXPECT_EQ(h.looks, 1);  // no second read
  EXPECT_EQ(h.queued(), 0u);
}

TEST(VisibilityWaitTest, TheFirstLookRunsEvenWhenARowArrivedBeforeIt) {
  // The first look is what checks the request against the database (a consistency
  // token naming a position the primary has not reached is INVALID_ARGUMENT): a row
  // seen elsewhere does not stand in for it.
  WaitHarness h;
  h.looks_answer = {absl::InvalidArgumentError("consistency_token: names a WAL position the database has not reached")};
  auto wait = h.Start(h.clock.Now() + kLater);
  h.Commit(/*with_body=*/true);  // lands while the first look is queued
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.looks, 1);
  EXPECT_EQ(h.finished.code(), absl::StatusCode::kInvalidArgument);
}

TEST(VisibilityWaitTest, ARowWithoutTheBodyACallerWantsCostsOneLook) {
  WaitHarness h(/*wants_body=*/true);
  auto wait = h.Start(h.clock.Now() + kLater);
  ASSERT_TRUE(h.RunQueued());
  h.Commit(/*with_body=*/false);  // a status move: the row, but no body
  EXPECT_EQ(h.finishes, 0);
  h.looks_answer = {absl::OkStatus()};
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.looks, 2);
  EXPECT_TRUE(h.finished.ok());
}

TEST(VisibilityWaitTest, AWakeWhileLookingLooksAgain) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  // The commit lands after the look read and before it returned: not lost.
  h.during_look = [&] {
    h.during_look = nullptr;
    wait->Wake(nullptr);
  };
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.finishes, 0);
  h.looks_answer = {absl::OkStatus()};
  ASSERT_TRUE(h.RunQueued());
  EXPECT_TRUE(h.finished.ok());
}

TEST(VisibilityWaitTest, AWakeWhileALookIsQueuedIsAnsweredByThatLook) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  wait->Wake(nullptr);  // the look has not started: it will read after this commit
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.queued(), 0u) << "no second look for a wake the first one covered";
  EXPECT_EQ(h.looks, 1);
}

TEST(VisibilityWaitTest, ACancelWhileALookIsQueuedEndsTheCallAtOnce) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  ASSERT_EQ(h.queued(), 1u);
  wait->End(absl::CancelledError("cancelled by the client"));
  EXPECT_EQ(h.finishes, 1);
  EXPECT_EQ(h.finished.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(h.RunQueued());  // its turn comes: it does nothing
  EXPECT_EQ(h.looks, 0);
  EXPECT_EQ(h.finishes, 1);
  EXPECT_EQ(h.registry_.size(), 0u);
}

TEST(VisibilityWaitTest, AnEndWhileLookingWaitsForTheLookAndWins) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  h.during_look = [&] { wait->End(absl::UnavailableError("server is shutting down; retry")); };
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.finishes, 1);
  EXPECT_EQ(h.finished.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(h.queued(), 0u);
}

TEST(VisibilityWaitTest, ALookThatFindsItWhileAnEndArrivesAnswersTheDocument) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  h.looks_answer = {absl::OkStatus()};
  h.during_look = [&] { wait->End(absl::CancelledError("cancelled by the client")); };
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.finishes, 1);
  EXPECT_TRUE(h.finished.ok());
}

TEST(VisibilityWaitTest, ItsDeadlineEndsItOnTheClock) {
  WaitHarness h;
  const auto expires_at = h.clock.Now() + std::chrono::milliseconds(200);
  auto wait = h.Start(expires_at);
  ASSERT_TRUE(h.RunQueued());
  h.registry_.ExpireDue(expires_at - std::chrono::milliseconds(1));
  EXPECT_EQ(h.finishes, 0);
  h.registry_.ExpireDue(expires_at);
  EXPECT_EQ(h.finishes, 1);
  EXPECT_EQ(h.finished.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(VisibilityWaitTest, ShutdownEndsEveryWaitAndRefusesNewOnes) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  ASSERT_TRUE(h.RunQueued());
  h.registry_.EndAll(absl::UnavailableError("server is shutting down; retry"));
  EXPECT_EQ(h.finished.code(), absl::StatusCode::kUnavailable);
  WaitHarness late;
  late.registry_.EndAll(absl::UnavailableError("bye"));
  auto refused = late.Start(late.clock.Now() + kLater);
  EXPECT_EQ(late.finished.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(late.queued(), 0u);
}

TEST(VisibilityWaitTest, TheDatabaseDownEndsOnlyTheFirstLook) {
  WaitHarness first;
  first.looks_answer = {absl::UnavailableError("database unavailable")};
  auto a = first.Start(first.clock.Now() + kLater);
  ASSERT_TRUE(first.RunQueued());
  EXPECT_EQ(first.finished.code(), absl::StatusCode::kUnavailable);  // "down now": the client may go elsewhere

  WaitHarness later;
  auto b = later.Start(later.clock.Now() + kLater);
  ASSERT_TRUE(later.RunQueued());
  later.looks_answer = {absl::UnavailableError("database unavailable")};
  b->Wake(nullptr);
  ASSERT_TRUE(later.RunQueued());
  EXPECT_EQ(later.finishes, 0);  // an outage while waiting is waited out
  EXPECT_EQ(later.registry_.size(), 1u);
}

TEST(VisibilityWaitTest, ALookThatThrowsEndsTheCallInternalWithTheReason) {
  WaitHarness h;
  h.during_look = [] { throw std::runtime_error("boom"); };
  auto wait = h.Start(h.clock.Now() + kLater);
  ASSERT_TRUE(h.RunQueued());
  EXPECT_EQ(h.finished.code(), absl::StatusCode::kInternal);
  EXPECT_NE(std::string(h.finished.message()).find("boom"), std::string::npos);
  EXPECT_EQ(h.registry_.size(), 0u);
}

TEST(VisibilityWaitTest, ARejectedFirstLookEndsTheCallWithTheQueuesReason) {
  WaitHarness h;
  auto wait = h.Start(h.clock.Now() + kLater);
  h.RejectQueued(absl::UnavailableError("too many requests queued"));
  EXPECT_EQ(h.finished.code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace docgate::visibility
