#include "server/visibility/waiter_registry.h"

#include <algorithm>

#include "server/store/pg_array.h"

namespace docgate::visibility {

void WaiterRegistry::SetMaxWaiters(size_t max_waiters) {
  std::lock_guard lock(mu_);
  max_waiters_ = max_waiters;
}

absl::Status WaiterRegistry::Add(const std::string& id, const std::shared_ptr<Waiter>& waiter,
                                 Clock::time_point expires_at) {
  std::lock_guard lock(mu_);
  if (closed_) return absl::UnavailableError("server is shutting down");
  if (count_ >= max_waiters_) {
    return absl::ResourceExhaustedError("too many WaitVisible calls waiting; retry later");
  }
  auto expiry = by_expiry_.emplace(expires_at, std::make_pair(id, waiter.get()));
  auto& entries = by_id_[id];
  if (entries.empty()) ids_dirty_ = true;
  entries.push_back(Entry{waiter, expiry});
  CountLocked(count_ + 1);
  added_cv_.notify_all();
  return absl::OkStatus();
}

void WaiterRegistry::Remove(const std::string& id, const Waiter* waiter) {
  std::shared_ptr<Waiter> keep;  // released outside the lock
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  auto& entries = it->second;
  auto entry = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.waiter.get() == waiter; });
  if (entry == entries.end()) return;
  keep = std::move(entry->waiter);
  by_expiry_.erase(entry->expiry);
  entries.erase(entry);
  CountLocked(count_ - 1);
  if (entries.empty()) {
    by_id_.erase(it);
    ids_dirty_ = true;
  }
}

void WaiterRegistry::Wake(const store::Document& row, const std::string* body) {
  std::vector<std::shared_ptr<Waiter>> to_wake;
  {
    std::lock_guard lock(mu_);
    auto it = by_id_.find(row.id);
    if (it == by_id_.end()) return;
    for (const auto& e : it->second) to_wake.push_back(e.waiter);
  }
  auto seen = std::make_shared<Sighting>();
  seen->document = row;
  seen->has_body = body != nullptr;
  if (body != nullptr && body != &row.body) seen->document.body = *body;
  for (const auto& w : to_wake) w->Wake(seen);
}

void WaiterRegistry::ExpireDue(Clock::time_point now) {
  std::vector<std::shared_ptr<Waiter>> expired;
  {
    std::lock_guard lock(mu_);
    while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
      const auto [id, waiter] = by_expiry_.begin()->second;
      auto& entries = by_id_[id];
      const Waiter* const expiring = waiter;  // C++17 lambdas cannot capture a structured binding
      auto entry =
          std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.waiter.get() == expiring; });
      expired.push_back(std::move(entry->waiter));
      entries.erase(entry);
      by_expiry_.erase(by_expiry_.begin());
      CountLocked(count_ - 1);
      if (entries.empty()) {
        by_id_.erase(id);
        ids_dirty_ = true;
      }
    }
  }
  for (const auto& w : expired) w->End(absl::DeadlineExceededError("the document did not become visible in time"));
}

void WaiterRegistry::EndAll(const absl::Status& why) {
  std::vector<std::shared_ptr<Waiter>> all;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (auto& [id, entries] : by_id_) {
      for (auto& e : entries) all.push_back(std::move(e.waiter));
    }
    by_id_.clear();
    by_expiry_.clear();
    CountLocked(0);
    ids_dirty_ = true;
  }
  for (const auto& w : all) w->End(why);
}

std::string WaiterRegistry::PendingIdsLiteral() {
  std::lock_guard lock(mu_);
  if (ids_dirty_) {
    std::vector<std::string_view> ids;
    ids.reserve(by_id_.size());
    for (const auto& entry : by_id_) ids.push_back(entry.first);
    ids_literal_ = ids.empty() ? std::string() : store::ArrayLiteral(ids);
    ids_dirty_ = false;
  }
  return ids_literal_;
}

void WaiterRegistry::CountLocked(size_t count) {
  count_ = count;
  if (waiting_ != nullptr) waiting_->Set(static_cast<double>(count));
}

bool WaiterRegistry::Waits(const std::string& id) const {
  std::lock_guard lock(mu_);
  return by_id_.count(id) > 0;
}

size_t WaiterRegistry::ids() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

std::vector<std::string> WaiterRegistry::NextIds(size_t n) {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  auto it = by_id_.upper_bound(next_after_);
  for (size_t taken = 0; taken < n && taken < by_id_.size(); ++taken) {
    if (it == by_id_.end()) it = by_id_.begin();
    out.push_back(it->first);
    ++it;
  }
  if (!out.empty()) next_after_ = out.back();
  return out;
}

size_t WaiterRegistry::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

void WaiterRegistry::AwaitWaiters(Clock::time_point until) {
  std::unique_lock lock(mu_);
  while (count_ == 0 && !interrupted_ && clock_.Now() < until) clock_.WaitUntil(added_cv_, lock, until);
}

void WaiterRegistry::Interrupt() {
  std::lock_guard lock(mu_);
  interrupted_ = true;
  added_cv_.notify_all();
}

}  // namespace docgate::visibility
