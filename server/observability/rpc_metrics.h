#pragma once

#include <array>
#include <chrono>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

#include "server/observability/recent_errors.h"

namespace docgate {

// The gRPC server metrics of one method, with the names and labels of
// go-grpc-prometheus (grpc_server_started_total, grpc_server_handled_total,
// grpc_server_handling_seconds). Every series is made at start-up, so recording an
// RPC takes no lookup and no lock of ours (but an error's, in `recent`). Thread-safe.
class RpcMetrics {
 public:
  RpcMetrics(const std::string& service, const std::string& method, prometheus::Family<prometheus::Counter>& started,
             prometheus::Family<prometheus::Counter>& handled,
             prometheus::Family<prometheus::Histogram>& handling_seconds, RecentErrors& recent);

  const std::string& method() const { return method_; }
  void Started() { started_.Increment(); }
  // `code` is the gRPC status code (0..16) the client receives, with `message`.
  void Handled(int code, std::chrono::steady_clock::duration took, std::string_view message = {});

 private:
  std::string method_;
  prometheus::Counter& started_;
  std::array<prometheus::Counter*, 17> handled_{};
  prometheus::Histogram& handling_seconds_;
  RecentErrors& recent_;
};

// go-grpc-prometheus's name of a gRPC code (0..16): "OK", "Unavailable", ...;
// "Unknown" for any other number.
const char* GrpcCodeName(int code);

}  // namespace docgate
