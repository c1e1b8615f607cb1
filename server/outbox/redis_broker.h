#pragma once

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct redisContext;

namespace docgate::outbox {

// Where the broker is: parsed from redis://[[USER]:PASSWORD@]HOST[:PORT][/DB].
struct BrokerAddress {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string password;  // from the URL, or the password file (which wins)

  // INVALID_ARGUMENT for anything but redis://... (rediss:// included: Debian's
  // hiredis 0.14 has no TLS); the password file is read here.
  static absl::StatusOr<BrokerAddress> Parse(const std::string& url, const std::string& password_file);
};

// One connection to Redis (hiredis), made on first use and again after any
// failure. Not thread-safe: the outbox relay's thread alone uses it.
class RedisBroker {
 public:
  RedisBroker(BrokerAddress address, std::chrono::milliseconds timeout);
  ~RedisBroker();
  RedisBroker(const RedisBroker&) = delete;
  RedisBroker& operator=(const RedisBroker&) = delete;

  // Connected (AUTH and SELECT done) and answering PING; UNAVAILABLE with the reason otherwise.
  absl::Status Ready();
  // A message for a queue.
  struct Message {
    std::string queue;
    std::string body;
  };
  // LPUSHes each message onto its queue (what kombu's Redis transport does to
  // publish), in order: one LPUSH of many values per run of messages for the same
  // queue (the same order on the list as one LPUSH each, at a fraction of Redis's
  // work), pipelined: one round trip for all. Returns how many, from the first,
  // Redis acknowledged; after a failure the rest count as not sent.
  size_t PushAll(const std::vector<Message>& messages);

 private:
  absl::Status Connect();
  // Runs a command (binary-safe arguments); any failure drops the connection, so
  // that the next call reconnects.
  absl::Status Command(std::initializer_list<std::string_view> args);
  void Drop();

  const BrokerAddress address_;
  const std::chrono::milliseconds timeout_;
  redisContext* context_ = nullptr;
};

}  // namespace docgate::outbox
