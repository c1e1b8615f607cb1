#pragma once

#include <array>
#include <chrono>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>

namespace docgate {

// The gRPC server metrics of one method, with the names and labels of
// go-grpc-prometheus (grpc_server_started_total, grpc_server_handled_total,
// grpc_server_handling_seconds). Every series is made at start-up, so recording an
// RPC takes no lookup and no lock of ours. Thread-safe.
class RpcMetrics {
 public:
  RpcMetrics(const std::string& service, const std::string& method, prometheus::Family<prometheus::Counter>& started,
             prometheus::Family<prometheus::Counter>& handled,
             prometheus::Family<prometheus::Histogram>& handling_seconds);

  const std::string& method() const { return method_; }
  void Started() { started_.Increment(); }
  // `code` is the gRPC status code (0..16) the client receives.
  void Handled(int code, std::chrono::steady_clock::duration took);

 private:
  std::string method_;
  prometheus::Counter& started_;
  std::array<prometheus::Counter*, 17> handled_{};
  prometheus::Histogram& handling_seconds_;
};

}  // namespace docgate
