#include "server/outbox/redis_broker.h"

#include <hiredis/hiredis.h>

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/common/read_file.h"

namespace docgate::outbox {
namespace {

constexpr char kScheme[] = "redis://";

timeval ToTimeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

absl::StatusOr<BrokerAddress> BrokerAddress::Parse(const std::string& url, const std::string& password_file) {
  if (url.rfind("rediss://", 0) == 0) {
    return absl::InvalidArgumentError("broker URL: rediss:// (TLS) is not supported by the Redis client library");
  }
  if (url.rfind(kScheme, 0) != 0) return absl::InvalidArgumentError("broker URL: expected redis://HOST[:PORT][/DB]");
  std::string rest = url.substr(sizeof(kScheme) - 1);
  BrokerAddress a;
  if (const size_t at = rest.rfind('@'); at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    const size_t colon = userinfo.find(':');
    a.password = colon == std::string::npos ? userinfo : userinfo.substr(colon + 1);
    rest = rest.substr(at + 1);
  }
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    if (!db.empty() && (!absl::SimpleAtoi(db, &a.db) || a.db < 0)) {
      return absl::InvalidArgumentError("broker URL: the database must be a number");
    }
    rest = rest.substr(0, slash);
  }
  if (const size_t colon = rest.rfind(':'); colon != std::string::npos) {
    if (!absl::SimpleAtoi(rest.substr(colon + 1), &a.port) || a.port <= 0 || a.port > 65535) {
      return absl::InvalidArgumentError("broker URL: bad port");
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return absl::InvalidArgumentError("broker URL: no host");
  a.host = rest;
  if (!password_file.empty()) {
    auto password = ReadWholeFile(password_file);
    if (!password.has_value()) return absl::InvalidArgumentError("broker password file: cannot read it");
    a.password = *password;
    while (!a.password.empty() && (a.password.back() == '\n' || a.password.back() == '\r')) a.password.pop_back();
  }
  return a;
}

RedisBroker::RedisBroker(BrokerAddress address, std::chrono::milliseconds timeout)
    : address_(std::move(address)), timeout_(timeout) {}

RedisBroker::~RedisBroker() { Drop(); }

void RedisBroker::Drop() {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

absl::Status RedisBroker::Connect() {
  if (context_ != nullptr) return absl::OkStatus();
  context_ = redisConnectWithTimeout(address_.host.c_str(), address_.port, ToTimeval(timeout_));
  if (context_ == nullptr || context_->err != 0) {
    const std::string why = context_ == nullptr ? "out of memory" : context_->errstr;
    Drop();
    return absl::UnavailableError("broker: cannot connect: " + why);
  }
  redisSetTimeout(context_, ToTimeval(timeout_));
  if (!address_.password.empty()) {
    if (auto s = Command({"AUTH", address_.password}); !s.ok()) return absl::UnavailableError("broker: AUTH refused");
  }
  if (address_.db != 0) return Command({"SELECT", std::to_string(address_.db)});
  return absl::OkStatus();
}

absl::Status RedisBroker::Command(std::initializer_list<std::string_view> args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (std::string_view a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  auto* reply =
      static_cast<redisReply*>(redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) {
    const std::string why = context_->errstr;
    Drop();
    return absl::UnavailableError("broker: " + why);
  }
  const bool failed = reply->type == REDIS_REPLY_ERROR;
  const std::string error = failed ? std::string(reply->str, reply->len) : "";
  freeReplyObject(reply);
  if (failed) {
    Drop();
    return absl::UnavailableError("broker refused: " + error);
  }
  return absl::OkStatus();
}

absl::Status RedisBroker::Ready() {
  if (auto s = Connect(); !s.ok()) return s;
  return Command({"PING"});
}

size_t RedisBroker::PushAll(const std::vector<Message>& messages) {
  if (messages.empty() || !Connect().ok()) return 0;
  std::vector<size_t> run_sizes;  // one LPUSH each, atomic: all of its values or none
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (size_t start = 0; start < messages.size();) {
    size_t end = start;
    argv.assign({"LPUSH", messages[start].queue.data()});
    lengths.assign({5, messages[start].queue.size()});
    for (; end < messages.size() && messages[end].queue == messages[start].queue; ++end) {
      argv.push_back(messages[end].body.data());
      lengths.push_back(messages[end].body.size());
    }
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()) != REDIS_OK) {
      Drop();
      return 0;
    }
    run_sizes.push_back(end - start);
    start = end;
  }
  size_t acknowledged = 0;
  for (const size_t run : run_sizes) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      Drop();  // what was not answered may or may not be in Redis: it is sent again, same id
      return acknowledged;
    }
    auto* reply = static_cast<redisReply*>(raw);
    const bool ok = reply->type != REDIS_REPLY_ERROR;
    freeReplyObject(reply);
    if (!ok) {
      Drop();
      return acknowledged;
    }
    acknowledged += run;
  }
  return acknowledged;
}

}  // namespace docgate::outbox
