#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/common/clock.h"
#include "server/db/with_connection.h"
#include "server/exec/work_queue.h"
#include "spdlog/spdlog.h"

namespace docgate::rpc {

// One call waiting in a CallBatcher. The call's owner (UnaryCall) supplies the
// three functions; `request` and `response` may be used only after Claim() returned
// true, because a call that another party finished may already be gone.
template <typename Request, typename Response>
struct BatchedCall {
  const Request* request = nullptr;
  Response* response = nullptr;
  db::QueryContext ctx;
  std::string caller;                        // whose work: batches never mix callers
  std::function<bool()> claim;               // queued -> running; false: already finished
  std::function<void(absl::Status)> finish;  // after a successful claim
  std::function<void(absl::Status)> reject;  // if still queued, finish it with this
};

// Merges concurrent calls of one kind into batches that one WorkQueue task serves
// with one database round trip: under load, N calls cost one queue hand-off and one
// query instead of N of each. A call waits at most until a worker is free (as it
// would in the WorkQueue); whoever frees a worker takes everything queued, up to
// `max_batch`, and goes on with the next batch while no other work waits. Each caller has a lane of its own (batches
// never mix callers, so fair admission sees each caller's work as its own), and at most `max_in_flight` batches of a
// lane run at once, so a burst cannot take every worker from other RPCs. Thread-safe.
template <typename Request, typename Response>
class CallBatcher {
 public:
  using Call = BatchedCall<Request, Response>;
  // Runs on a worker thread with the calls it claimed; sets each one's outcome in
  // `statuses` (same index). `ctx` bounds the batch by the earliest deadline of its
  // calls, so that no statement outlives any caller's deadline (a client told
  // DEADLINE_EXCEEDED can rely on that); a call whose batch ran out of time before
  // its own deadline gets UNAVAILABLE, which clients retry (reads and creates are
  // safe to retry). One client's cancel does not cut a query others share.
  using Serve = std::function<void(const std::vector<Call*>& calls, std::vector<absl::Status>& statuses,
                                   const db::QueryContext& ctx)>;

  struct Options {
    size_t max_batch = 256;
    int max_in_flight = 2;
    // Told the size of every batch served (the calls claimed); may be empty.
    std::function<void(size_t)> observe_size;
  };

  CallBatcher(WorkQueue& work_queue, Options options, Serve serve, Clock& clock = Clock::Real())
      : state_(std::make_shared<State>(work_queue, options, std::move(serve), clock)) {}

  void Add(Call call) {
    const std::string caller = call.caller;
    bool schedule = false;
    {
      std::lock_guard lock(state_->mu);
      Lane& lane = state_->lanes[caller];
      lane.pending.push_back(std::move(call));
      if (lane.in_flight < state_->options.max_in_flight) {
        ++lane.in_flight;
        schedule = true;
      }
    }
    if (schedule) Schedule(state_, caller);
  }

 private:
  struct Lane {
    std::vector<Call> pending;
    int in_flight = 0;  // drain tasks queued or running
  };
  struct State {
    State(WorkQueue& q, Options o, Serve s, Clock& c) : work_queue(q), options(o), serve(std::move(s)), clock(c) {}
    WorkQueue& work_queue;
    const Options options;
    const Serve serve;
    Clock& clock;
    std::mutex mu;
    std::map<std::string, Lane> lanes;  // a lane with nothing pending or in flight is dropped
  };

  // Ends one drain task of `caller`'s lane, and drops the lane once it is idle.
  static void EndDrainLocked(State& state, const std::string& caller) {
    auto it = state.lanes.find(caller);
    if (--it->second.in_flight == 0 && it->second.pending.empty()) state.lanes.erase(it);
  }

  // A drain task: serves the lane's batches until nothing is pending. The WorkQueue
  // bounds its wait by the earliest acquire time of the calls then pending, and
  // refuses it at once only when even the latest deadline among them cannot be met.
  // Another drain of the lane may have taken every pending call since this one was
  // counted in flight: then it ends here (and its deadline would be the far past).
  static void Schedule(const std::shared_ptr<State>& state, const std::string& caller) {
    WorkQueue::Ticket ticket{caller};
    ticket.deadline = Clock::time_point::min();
    {
      std::lock_guard lock(state->mu);
      if (state->lanes[caller].pending.empty()) {
        EndDrainLocked(*state, caller);
        return;
      }
      for (const Call& c : state->lanes[caller].pending) {
        ticket.start_by = std::min(ticket.start_by, c.ctx.acquire_by);
        ticket.deadline = std::max(ticket.deadline, c.ctx.deadline);
      }
    }
    Submitting() = true;
    state->work_queue.Submit(
        ticket, [state, caller] { Drain(state, caller); },
        [state, caller](absl::Status status) { Rejected(state, caller, status); });
    Submitting() = false;
  }

  // True on a thread inside WorkQueue::Submit: a rejection seen then is the queue
  // refusing (full, or shutting down), not a task that waited too long.
  static bool& Submitting() {
    thread_local bool submitting = false;
    return submitting;
  }

  static void Drain(const std::shared_ptr<State>& state, const std::string& caller) {
    while (true) {
      std::vector<Call> batch;
      {
        std::lock_guard lock(state->mu);
        auto& pending = state->lanes[caller].pending;
        if (pending.empty()) {
          EndDrainLocked(*state, caller);
          return;
        }
        const size_t n = std::min(pending.size(), state->options.max_batch);
        batch.assign(std::make_move_iterator(pending.begin()),
                     std::make_move_iterator(pending.begin() + static_cast<std::ptrdiff_t>(n)));
        pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(n));
      }
      ServeBatch(*state, batch);
      // With other work waiting for a slot, the lane's next batch queues again, so
      // that admission, not this loop, decides who goes next (a loop that kept its
      // slot while calls kept coming would hold it for good, and fair admission
      // would charge one long task for all its batches). Schedule ends the drain
      // when nothing is pending.
      if (state->work_queue.queued() > 0) return Schedule(state, caller);
    }
  }

  static void ServeBatch(State& state, std::vector<Call>& batch) {
    std::vector<Call*> claimed;
    db::QueryContext ctx;
    ctx.deadline = Clock::time_point::max();
    ctx.acquire_by = Clock::time_point::min();
    const auto start = state.clock.Now();
    for (Call& c : batch) {
      if (!c.claim()) continue;       // cancelled or past its deadline while queued
      if (c.ctx.deadline <= start) {  // just expired: it must not bound the others
        c.finish(absl::DeadlineExceededError("deadline passed before the query ran"));
        continue;
      }
      claimed.push_back(&c);
      ctx.deadline = std::min(ctx.deadline, c.ctx.deadline);
      ctx.acquire_by = std::max(ctx.acquire_by, c.ctx.acquire_by);  // the most patient caller's
    }
    if (claimed.empty()) return;
    if (state.options.observe_size) state.options.observe_size(claimed.size());
    std::vector<absl::Status> statuses(claimed.size(), absl::InternalError("not served"));
    try {
      state.serve(claimed, statuses, ctx);
    } catch (const std::exception& e) {
      spdlog::error("a batch handler threw; its calls end INTERNAL reason=\"{}\"", e.what());
      std::fill(statuses.begin(), statuses.end(),
                absl::InternalError(std::string("unexpected exception: ") + e.what()));
    }
    const auto now = state.clock.Now();
    for (size_t i = 0; i < claimed.size(); ++i) {
      // Out of time by the batch's bound, not by its own: may retry.
      if (absl::IsDeadlineExceeded(statuses[i]) && claimed[i]->ctx.deadline > ctx.deadline &&
          now < claimed[i]->ctx.deadline) {
        statuses[i] = absl::UnavailableError("a call served together with this one ran out of time; retry");
      }
      claimed[i]->finish(statuses[i]);
    }
  }

  // The drain task was not started in time (every worker busy past the earliest
  // acquire time) or the queue refused it: calls whose time is up get the
  // rejection, the others wait for another drain.
  static void Rejected(const std::shared_ptr<State>& state, const std::string& caller, const absl::Status& status) {
    std::vector<Call> failing;
    bool reschedule = false;
    {
      std::lock_guard lock(state->mu);
      const auto now = state->clock.Now();
      // Refused for a reason other than the first acquire time passing (full,
      // shutting down, over the caller's cap, overloaded): every pending call of the
      // lane shares the refusal.
      const bool refused = Submitting() || !IsAcquireTimeout(status);
      auto& pending = state->lanes[caller].pending;
      auto keep = std::partition(pending.begin(), pending.end(),
                                 [&](const Call& c) { return !refused && c.ctx.acquire_by > now; });
      failing.assign(std::make_move_iterator(keep), std::make_move_iterator(pending.end()));
      pending.erase(keep, pending.end());
      reschedule = !pending.empty();
      if (!reschedule) EndDrainLocked(*state, caller);
    }
    for (Call& c : failing) c.reject(status);
    if (reschedule) Schedule(state, caller);
  }

  std::shared_ptr<State> state_;
};

}  // namespace docgate::rpc
