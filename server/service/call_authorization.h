#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "server/observability/metrics.h"
#include "server/security/authenticator.h"

namespace docgate::service {

// The metadata header naming the caller when tokens are off: a hint for fair
// admission and metrics, not a security boundary (any client may send any name).
inline constexpr char kCallerHeader[] = "x-docgate-caller";

// The check every DocumentService call passes first: its bearer token (when
// tokens are asked), and who the caller is for admission. `authenticator` null:
// no token asked (no --auth-tokens-file).
class CallAuthorization {
 public:
  CallAuthorization(const security::Authenticator* authenticator, Metrics& metrics)
      : authenticator_(authenticator), metrics_(metrics) {}

  // nullptr when the call may go on, with `caller` set: the token's name when tokens
  // are on; else the x-docgate-caller header; else "anonymous". Else the call is
  // over: refused with UNAUTHENTICATED or PERMISSION_DENIED (or INVALID_ARGUMENT for
  // a header that is not a name), counted and logged like any failed call, and the
  // returned reactor is the one to give gRPC.
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const char* method, security::Scope needed,
                                   std::string* caller) const;

 private:
  const security::Authenticator* const authenticator_;
  Metrics& metrics_;
};

// The caller named by the x-docgate-caller header; "anonymous" without one;
// INVALID_ARGUMENT unless it is 1 to 64 of [A-Za-z0-9._:@/-].
absl::StatusOr<std::string> CallerFromHeader(const grpc::CallbackServerContext& context);

}  // namespace docgate::service
