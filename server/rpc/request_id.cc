#include "server/rpc/request_id.h"

#include <random>
#include <string_view>

namespace docgate::rpc {
namespace {

constexpr size_t kMaxRequestIdLength = 128;

bool IsRequestIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
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

}  // namespace docgate::rpc
