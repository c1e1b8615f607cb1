#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

namespace docgate::rpc {

// The request id of a call: the client's `x-request-id` when it is a short token
// of [A-Za-z0-9._-], else a new random one.
std::string RequestIdOf(const grpc::CallbackServerContext& context);

}  // namespace docgate::rpc
