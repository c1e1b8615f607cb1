#include "server/visibility/visibility_watcher.h"

#include "server/store/document_store.h"
#include "spdlog/spdlog.h"

namespace docgate::visibility {

// A check slower than a second is cut (and the connection replaced); failed
// connects back off from 50 ms to 1 s.
VisibilityWatcher::VisibilityWatcher(WaiterRegistry& registry, db::ConnectionOpener open,
                                     std::chrono::milliseconds tick, db::QueryWatchdog& watchdog)
    : registry_(registry),
      tick_(tick),
      conn_(std::move(open), watchdog, {std::chrono::milliseconds(1000), std::chrono::milliseconds(50),
                                        std::chrono::milliseconds(1000)}),
      thread_([this] { Loop(); }) {}

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
  conn_.Close();
}

void VisibilityWatcher::Check() {
  const std::string ids = registry_.PendingIdsLiteral();
  if (ids.empty()) return;
  const auto visible = conn_.Run<std::vector<std::string>>(
      [&](pqxx::connection& conn) { return store::DocumentStore::VisibleIds(conn, ids); });
  if (!visible.has_value()) {
    // Down, lost or cut (or the server restarted): a new connection at the next tick.
    spdlog::debug("visibility check failed");
    return;
  }
  for (const auto& id : *visible) registry_.Wake(id);
}

}  // namespace docgate::visibility
