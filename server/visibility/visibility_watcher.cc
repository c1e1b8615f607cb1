#include "server/visibility/visibility_watcher.h"

#include <algorithm>

#include "server/store/document_store.h"
#include "spdlog/spdlog.h"

namespace docgate::visibility {
namespace {

constexpr std::chrono::milliseconds kInitialBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{1000};
// A check slower than this is cut (and the connection replaced).
constexpr std::chrono::milliseconds kCheckLimit{1000};

}  // namespace

VisibilityWatcher::VisibilityWatcher(WaiterRegistry& registry, db::ConnectionOpener open,
                                     std::chrono::milliseconds tick, db::QueryWatchdog& watchdog)
    : registry_(registry), open_(std::move(open)), tick_(tick), watchdog_(watchdog), thread_([this] { Loop(); }) {}

VisibilityWatcher::~VisibilityWatcher() { Stop(); }

void VisibilityWatcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  registry_.Interrupt();
  if (thread_.joinable()) thread_.join();
}

void VisibilityWatcher::SleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void VisibilityWatcher::Loop() {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    registry_.AwaitWaiters(Clock::now() + std::chrono::seconds(1));
    registry_.ExpireDue(Clock::now());
    if (registry_.size() > 0) Check();
    SleepFor(tick_);
  }
  conn_.reset();
}

void VisibilityWatcher::Check() {
  const std::string ids = registry_.PendingIdsLiteral();
  if (ids.empty()) return;
  if (conn_ == nullptr) {
    if (Clock::now() < next_connect_at_) return;
    auto opened = open_();
    if (!opened.ok()) {
      backoff_ = std::clamp(backoff_ * 2, kInitialBackoff, kMaxBackoff);
      next_connect_at_ = Clock::now() + backoff_;
      return;
    }
    conn_ = std::move(*opened);
    backoff_ = std::chrono::milliseconds(0);
  }
  const auto ticket = watchdog_.Watch(conn_->sock(), Clock::now() + kCheckLimit);
  std::vector<std::string> visible;
  bool failed = false;
  try {
    visible = store::DocumentStore::VisibleIds(*conn_, ids);
  } catch (const std::exception&) {
    failed = true;
  }
  if (watchdog_.Unwatch(ticket) != db::QueryWatchdog::Outcome::kNotCut || failed) {
    // Lost or cut (or the server restarted): reconnect at the next tick.
    spdlog::debug("visibility check failed; reconnecting");
    conn_.reset();
    return;
  }
  for (const auto& id : visible) registry_.Wake(id);
}

}  // namespace docgate::visibility
