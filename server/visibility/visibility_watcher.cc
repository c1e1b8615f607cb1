#include "server/visibility/visibility_watcher.h"

#include "server/store/pg_document_store.h"
#include "spdlog/spdlog.h"

namespace docgate::visibility {
namespace {

// A check slower than a second is cut (and the connection replaced); failed
// connects back off from 50 ms to 1 s.
constexpr db::WatchedConnection::Options kCheck{std::chrono::milliseconds(1000), std::chrono::milliseconds(50),
                                                std::chrono::milliseconds(1000)};

}  // namespace

VisibilityWatcher::VisibilityWatcher(WaiterRegistry& registry, db::ConnectionOpener open,
                                     std::chrono::milliseconds tick, db::QueryWatchdog& watchdog,
                                     prometheus::Histogram* checks, Clock& clock)
    : registry_(registry),
      tick_(tick),
      checks_(checks),
      clock_(clock),
      conn_(std::move(open), watchdog, kCheck, clock) {
  thread_ = std::thread([this] { Loop(); });
}

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
  const auto until = clock_.Now() + d;
  while (!stopping_ && clock_.Now() < until) clock_.WaitUntil(stop_cv_, lock, until);
}

void VisibilityWatcher::Loop() {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    registry_.AwaitWaiters(clock_.Now() + std::chrono::seconds(1));
    registry_.ExpireDue(clock_.Now());
    if (registry_.size() > 0) Check();
    SleepFor(tick_);
  }
  conn_.Close();
}

void VisibilityWatcher::Check() {
  const std::string ids = registry_.PendingIdsLiteral();
  if (ids.empty()) return;
  const auto started = clock_.Now();
  const auto visible = conn_.Run<std::vector<store::Document>>(
      [&](pqxx::connection& conn) { return store::PgDocumentStore::VisibleDocuments(conn, ids); });
  if (checks_ != nullptr) checks_->Observe(std::chrono::duration<double>(clock_.Now() - started).count());
  if (!visible.ok()) {
    // Down, lost or cut (or the server restarted): a new connection at the next tick.
    uint64_t suppressed = 0;
    if (failure_lines_.Allow(suppressed, clock_.Now())) {
      spdlog::warn("visibility check failed; waiters wait on reason=\"{}\" failures_since_last_line={}",
                   std::string(visible.status().message()), suppressed);
    }
    return;
  }
  failure_lines_.Reset();
  for (const store::Document& row : *visible) registry_.Wake(row, &row.body);
}

}  // namespace docgate::visibility
