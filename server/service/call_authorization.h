#pragma once

#include <grpcpp/grpcpp.h>

#include "server/observability/metrics.h"
#include "server/security/authenticator.h"

namespace docgate::service {

// The bearer-token check every DocumentService call passes first. `authenticator`
// null: no token asked (no --auth-tokens-file).
class CallAuthorization {
 public:
  CallAuthorization(const security::Authenticator* authenticator, Metrics& metrics)
      : authenticator_(authenticator), metrics_(metrics) {}

  // nullptr when the call may go on. Else the call is over: refused with
  // UNAUTHENTICATED or PERMISSION_DENIED, counted and logged like any failed call,
  // and the returned reactor is the one to give gRPC.
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context, const char* method,
                                   security::Scope needed) const;

 private:
  const security::Authenticator* const authenticator_;
  Metrics& metrics_;
};

}  // namespace docgate::service
