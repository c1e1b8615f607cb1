#include "server/service/rpc_outcome.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "server/common/log_limiter.h"
#include "server/db/sql_errors.h"
#include "server/service/wire_format.h"
#include "spdlog/spdlog.h"

namespace docgate::service {
namespace {

constexpr size_t kMaxRequestIdLength = 128;

bool IsRequestIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t v = rng();
  std::string id(16, '0');
  for (auto& c : id) {
    c = kHex[v & 0xf];
    v >>= 4;
  }
  return id;
}

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status, const std::string& request_id) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kDataLoss) {
    return grpc::Status(grpc::StatusCode::INTERNAL, absl::StrCat("internal error; request_id=", request_id));
  }
  return grpc::Status(code, std::string(status.message()));
}

std::string RequestIdOf(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("x-request-id");
  if (it != metadata.end()) {
    std::string_view given(it->second.data(), it->second.size());
    bool ok = !given.empty() && given.size() <= kMaxRequestIdLength;
    for (char c : given) ok = ok && IsRequestIdChar(c);
    if (ok) return std::string(given);
  }
  return NewRequestId();
}

namespace {

// Codes that come in floods: an outage, or a client (or an attacker) with a bad token.
bool IsFloodCode(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnauthenticated ||
         code == absl::StatusCode::kPermissionDenied;
}

}  // namespace

void LogFailedRpc(const char* method, const std::string& request_id, const absl::Status& status,
                  std::chrono::steady_clock::duration elapsed) {
  // During an outage every request fails the same way: 20 lines at once, then 10 a
  // second, each saying how many it stands for. Other failures are each logged.
  static LogLimiter flood_lines(20, std::chrono::milliseconds(100));
  uint64_t suppressed = 0;
  if (IsFloodCode(status.code()) && !flood_lines.Allow(suppressed)) return;
  const double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  const std::string sqlstate = db::SqlStateOf(status).value_or("");
  auto level = spdlog::level::info;
  if (status.code() == absl::StatusCode::kInternal || status.code() == absl::StatusCode::kUnknown ||
      status.code() == absl::StatusCode::kDataLoss) {
    level = spdlog::level::err;
  } else if (status.code() == absl::StatusCode::kUnavailable ||
             status.code() == absl::StatusCode::kResourceExhausted ||
             status.code() == absl::StatusCode::kUnauthenticated ||
             status.code() == absl::StatusCode::kPermissionDenied) {
    level = spdlog::level::warn;
  }
  spdlog::log(level,
              "rpc failed request_id={} method={} code={} duration_ms={:.3f} sqlstate={} reason=\"{}\"{}",
              request_id, method, absl::StatusCodeToString(status.code()), ms, sqlstate.empty() ? "-" : sqlstate,
              std::string(status.message()),
              suppressed > 0 ? absl::StrCat(" similar_failures_not_logged=", suppressed) : std::string());
}

void FinishRpc(grpc::ServerUnaryReactor* reactor, grpc::CallbackServerContext* context, RpcMetrics& rpc,
               const std::string& request_id, std::chrono::steady_clock::time_point started,
               absl::Status status, Reply reply) {
  if (status.ok() && reply.message != nullptr) status = SerializeReply(*reply.message, reply.bytes);
  const auto took = std::chrono::steady_clock::now() - started;
  context->AddTrailingMetadata("x-request-id", request_id);
  if (!status.ok()) LogFailedRpc(rpc.method().c_str(), request_id, status, took);
  grpc::Status wire = ToGrpcStatus(status, request_id);
  rpc.Handled(wire.error_code(), took);
  reactor->Finish(std::move(wire));
}

grpc::ServerUnaryReactor* RefuseRpc(grpc::CallbackServerContext* context, RpcMetrics& rpc,
                                    const absl::Status& status) {
  const auto started = std::chrono::steady_clock::now();
  rpc.Started();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishRpc(reactor, context, rpc, RequestIdOf(*context), started, status);
  return reactor;
}

db::QueryContext QueryContextFor(const grpc::CallbackServerContext& context,
                                 std::chrono::steady_clock::time_point started,
                                 std::chrono::milliseconds acquire_timeout) {
  db::QueryContext ctx;
  ctx.acquire_by = started + acquire_timeout;
  const auto deadline = context.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    ctx.deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                 deadline - std::chrono::system_clock::now());
  }
  return ctx;
}

namespace {

// gRPC's deadline timer runs on another clock and may fire a little before the
// deadline it reports has passed on the system clock.
constexpr auto kDeadlineTolerance = std::chrono::milliseconds(50);

bool DeadlinePassed(const grpc::CallbackServerContext& context) {
  return context.deadline() <= std::chrono::system_clock::now() + kDeadlineTolerance;
}

}  // namespace

void PassOnCancellation(const grpc::CallbackServerContext& context, db::CancelSignal* signal) {
  if (signal != nullptr && !DeadlinePassed(context)) signal->Cancel();
}

absl::Status CancellationStatus(const grpc::CallbackServerContext& context) {
  if (DeadlinePassed(context)) {
    return absl::DeadlineExceededError("deadline passed");
  }
  return absl::CancelledError("cancelled by the client");
}

}  // namespace docgate::service
