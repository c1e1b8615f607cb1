#include "server/visibility/visibility_watcher.h"

#include <algorithm>

#include "server/store/pg_array.h"
#include "server/store/pg_document_store.h"
#include "spdlog/spdlog.h"

namespace docgate::visibility {
namespace {

// A check slower than a second is cut (and the connection replaced); failed
// connects back off from 50 ms to 1 s.
constexpr db::WatchedConnection::Options kCheck{std::chrono::milliseconds(1000), std::chrono::milliseconds(50),
                                                std::chrono::milliseconds(1000)};
// Up to this many ids waited for, every check is a full one (it costs about as little).
constexpr size_t kFullCheckUpTo = 1000;
// Beyond, each check also reads a slice of them, so as to go round them all in
// about this long: the cost spread evenly, never one long query that holds up the
// cheap looks.
constexpr auto kFullCheckEvery = std::chrono::seconds(1);
// A cheap look starts this long before the last one's time: a row inserted by a
// transaction that began up to this much earlier still shows as new.
constexpr int64_t kOpenTransactionMarginUs = 500 * 1000;
// "Created since" no time yet: the end of year 9999 (within PostgreSQL's range).
constexpr int64_t kNoneYetUs = int64_t{253402300799} * 1000000;

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
  if (registry_.size() == 0) return;
  const auto started = clock_.Now();
  const auto visible =
      conn_.Run<std::vector<store::Document>>([&](pqxx::connection& conn) { return FindVisible(conn); });
  if (checks_ != nullptr) checks_->Observe(std::chrono::duration<double>(clock_.Now() - started).count());
  if (!visible.ok()) {
    // Down, lost or cut (or the server restarted): a new connection at the next tick,
    // and a full check then (what committed meanwhile is not "new" by then).
    since_us_.reset();
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

std::vector<store::Document> VisibilityWatcher::FindVisible(pqxx::connection& conn) {
  const size_t waited_ids = registry_.ids();
  if (waited_ids <= kFullCheckUpTo) {
    since_us_.reset();  // if many come to wait, their first check is a full one
    const std::string ids = registry_.PendingIdsLiteral();
    return ids.empty() ? std::vector<store::Document>{} : store::PgDocumentStore::VisibleDocuments(conn, ids);
  }
  const bool first = !since_us_.has_value();
  auto recent = store::PgDocumentStore::IdsCreatedSince(conn, since_us_.value_or(kNoneYetUs));
  since_us_ = recent.now_us - kOpenTransactionMarginUs;
  if (first) return store::PgDocumentStore::VisibleDocuments(conn, registry_.PendingIdsLiteral());
  const size_t slices = std::max<size_t>(1, kFullCheckEvery / std::max(tick_, std::chrono::milliseconds(1)));
  std::vector<std::string> look_for = registry_.NextIds((waited_ids + slices - 1) / slices);
  for (std::string& id : recent.ids) {
    if (registry_.Waits(id)) look_for.push_back(std::move(id));
  }
  return store::PgDocumentStore::VisibleDocuments(conn, store::ArrayLiteral(look_for));
}

}  // namespace docgate::visibility
