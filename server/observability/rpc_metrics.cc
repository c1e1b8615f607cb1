#include "server/observability/rpc_metrics.h"

#include "server/observability/metrics.h"

namespace docgate {
namespace {

// go-grpc-prometheus's names for the gRPC codes, by number.
constexpr const char* kCodeNames[17] = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

}  // namespace

const char* GrpcCodeName(int code) { return kCodeNames[code >= 0 && code < 17 ? code : 2]; }

RpcMetrics::RpcMetrics(const std::string& service, const std::string& method,
                       prometheus::Family<prometheus::Counter>& started,
                       prometheus::Family<prometheus::Counter>& handled,
                       prometheus::Family<prometheus::Histogram>& handling_seconds, RecentErrors& recent)
    : method_(method),
      started_(started.Add({{"grpc_type", "unary"}, {"grpc_service", service}, {"grpc_method", method}})),
      handling_seconds_(handling_seconds.Add(
          {{"grpc_type", "unary"}, {"grpc_service", service}, {"grpc_method", method}}, LatencyBuckets())),
      recent_(recent) {
  for (int code = 0; code < 17; ++code) {
    handled_[code] = &handled.Add(
        {{"grpc_type", "unary"}, {"grpc_service", service}, {"grpc_method", method}, {"grpc_code", kCodeNames[code]}});
  }
}

void RpcMetrics::Handled(int code, std::chrono::steady_clock::duration took, std::string_view message) {
  handled_[code >= 0 && code < 17 ? code : 2]->Increment();
  if (code != 0) recent_.Record(method_, code, message);
  handling_seconds_.Observe(std::chrono::duration<double>(took).count());
}

}  // namespace docgate
