#include "server/observability/metrics_endpoint.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace docgate {
namespace {

// Every connection must have sent its request's headers this long after it was
// accepted, or it is closed: a client that trickles a line now and then, or sends
// nothing, holds a file descriptor for this long and no thread at all.
constexpr auto kHeaderDeadline = std::chrono::seconds(3);
// A connection that sends nothing for this long is closed by libmicrohttpd itself
// (its granularity is the second).
constexpr unsigned kIdleTimeoutSeconds = 3;
// Connections open at once; beyond it new ones are closed at accept.
constexpr unsigned kMaxConnections = 2048;
// Threads that serve the event loops: a page being made holds one.
constexpr unsigned kThreads = 2;

// HOST:PORT, [V6]:PORT or PORT (any address) as a socket address.
absl::StatusOr<sockaddr_storage> Resolve(const std::string& address) {
  std::string host, port = address;
  if (const auto colon = address.rfind(':'); colon != std::string::npos) {
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  }
  int number = 0;
  if (!absl::SimpleAtoi(port, &number) || number < 0 || number > 65535) {
    return absl::InvalidArgumentError("expected HOST:PORT");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int e = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found); e != 0) {
    return absl::InvalidArgumentError(gai_strerror(e));
  }
  sockaddr_storage storage{};
  std::memcpy(&storage, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  return storage;
}

// A listening TCP socket on `where`, its port reusable at once after a restart
// (SO_REUSEADDR: a scraper's connection that this process closed first lingers in
// TIME_WAIT for a minute and would refuse the bind), but never shared by two
// processes (no SO_REUSEPORT: a second one would silently take a share of the
// scrapes). An IPv6 address listens on IPv6 only, as libmicrohttpd does.
absl::StatusOr<int> ListenOn(const sockaddr_storage& where) {
  const int fd = ::socket(where.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(std::strerror(errno));
  const int on = 1;
  const socklen_t length = where.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
      (where.ss_family == AF_INET6 && ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0) ||
      ::bind(fd, reinterpret_cast<const sockaddr*>(&where), length) != 0 || ::listen(fd, SOMAXCONN) != 0) {
    const int error = errno;
    ::close(fd);
    return absl::UnavailableError(std::strerror(error));
  }
  return fd;
}

// The port `fd` is bound to (the one the system chose for port 0).
int PortOf(int fd) {
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0) return 0;
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
}

}  // namespace

// The connections whose request headers have not all come yet, with when each was
// accepted. A sweeper thread shuts down the sockets of those past kHeaderDeadline;
// libmicrohttpd then sees the connection end and closes it. A connection leaves the
// list (under its lock) before libmicrohttpd closes its socket, so a socket shut
// down is still the connection's own; and only a socket whose local port is the
// metrics port's is shut down, so a descriptor reused by anything else in the
// process (a database connection) is never touched, whatever the library does.
class MetricsEndpoint::HeaderDeadlines {
 public:
  HeaderDeadlines() : sweeper_([this] { Sweep(); }) {}
  ~HeaderDeadlines() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    sweeper_.join();
  }

  void Opened(MHD_socket fd) {
    std::lock_guard lock(mu_);
    pending_[fd] = std::chrono::steady_clock::now() + kHeaderDeadline;
  }
  void HeadersCame(MHD_socket fd) {
    std::lock_guard lock(mu_);
    pending_.erase(fd);
  }
  void Closed(MHD_socket fd) { HeadersCame(fd); }
  void Listening(int port) { port_ = port; }

 private:
  void Sweep() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      const auto now = std::chrono::steady_clock::now();
      for (auto it = pending_.begin(); it != pending_.end();) {
        if (it->second > now) {
          ++it;
          continue;
        }
        if (IsOurs(it->first)) shutdown(it->first, SHUT_RDWR);
        it = pending_.erase(it);
      }
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }

  bool IsOurs(MHD_socket fd) const {
    sockaddr_storage local{};
    socklen_t length = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return false;
    const int port = local.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port)
                                                 : ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
    return port == port_.load();
  }

  std::atomic<int> port_{-1};
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<MHD_socket, std::chrono::steady_clock::time_point> pending_;
  bool stopping_ = false;
  std::thread sweeper_;
};

namespace {

MHD_Result Answer(MHD_Connection* connection, unsigned status, const std::string& body, const char* content_type) {
  MHD_Response* response =
      MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
  // One request per connection: each gets the header deadline.
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
  const MHD_Result queued = MHD_queue_response(connection, status, response);
  MHD_destroy_response(response);
  return queued;
}

MHD_socket SocketOf(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  return info == nullptr ? MHD_INVALID_SOCKET : info->connect_fd;
}

}  // namespace

// libmicrohttpd's callbacks, with the endpoint as their closure.
struct MetricsEndpoint::Callbacks {
  static void OnConnection(void* cls, MHD_Connection* connection, void** /*socket_context*/,
                           MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<MetricsEndpoint*>(cls);
    const MHD_socket fd = SocketOf(connection);
    if (fd == MHD_INVALID_SOCKET) return;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
      self->deadlines_->Opened(fd);
    } else {
      self->deadlines_->Closed(fd);
    }
  }

  // Called once the request's headers are in (and again for a body, never awaited:
  // the answer goes at once and the connection closes after it).
  static MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                              const char* /*version*/, const char* /*upload_data*/, size_t* upload_data_size,
                              void** request_context) {
    auto* self = static_cast<MetricsEndpoint*>(cls);
    if (*request_context != nullptr) {
      *upload_data_size = 0;
      return MHD_YES;
    }
    *request_context = self;
    self->deadlines_->HeadersCame(SocketOf(connection));
    if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
      return Answer(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", "text/plain");
    }
    return static_cast<MHD_Result>(self->Serve(connection, url));
  }
};

int MetricsEndpoint::Serve(MHD_Connection* connection, const char* url) {
  const std::string path = url;
  if (path == "/metrics") {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, Collect());
    return Answer(connection, MHD_HTTP_OK, out.str(), "text/plain; version=0.0.4; charset=utf-8");
  }
  if (path == "/status") return Answer(connection, MHD_HTTP_OK, render_(Collect(), true), "text/html; charset=utf-8");
  if (path == "/status.json") return Answer(connection, MHD_HTTP_OK, render_(Collect(), false), "application/json");
  return Answer(connection, MHD_HTTP_NOT_FOUND, "not found\n", "text/plain");
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Listen(const std::string& address, Render render) {
  const auto where = Resolve(address);
  if (!where.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", address, " for metrics: ", where.status().message()));
  }
  const auto listening = ListenOn(*where);
  if (!listening.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", address, " for metrics: ", listening.status().message()));
  }
  std::unique_ptr<MetricsEndpoint> endpoint(new MetricsEndpoint(std::move(render)));
  MetricsEndpoint* self = endpoint.get();
  // The socket is ours (ListenOn says why); libmicrohttpd closes it when it stops.
  const unsigned flags =
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (where->ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
  self->daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &Callbacks::OnRequest, self, MHD_OPTION_LISTEN_SOCKET,
                                   *listening, MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds,
                                   MHD_OPTION_CONNECTION_LIMIT, kMaxConnections, MHD_OPTION_THREAD_POOL_SIZE, kThreads,
                                   MHD_OPTION_NOTIFY_CONNECTION, &Callbacks::OnConnection, self, MHD_OPTION_END);
  if (self->daemon_ == nullptr) {
    // Left open: whether libmicrohttpd already closed it is not said.
    return absl::FailedPreconditionError(absl::StrCat("cannot serve metrics on ", address));
  }
  self->port_ = PortOf(*listening);
  self->deadlines_->Listening(self->port_);
  return endpoint;
}

MetricsEndpoint::MetricsEndpoint(Render render)
    : render_(std::move(render)), deadlines_(std::make_unique<HeaderDeadlines>()) {}

MetricsEndpoint::~MetricsEndpoint() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

void MetricsEndpoint::Add(std::shared_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(mu_);
  collectables_.push_back(std::move(collectable));
}

std::vector<prometheus::MetricFamily> MetricsEndpoint::Collect() const {
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
  {
    std::lock_guard lock(mu_);
    collectables = collectables_;
  }
  std::vector<prometheus::MetricFamily> families;
  for (const auto& collectable : collectables) {
    auto some = collectable->Collect();
    families.insert(families.end(), std::make_move_iterator(some.begin()), std::make_move_iterator(some.end()));
  }
  return families;
}

}  // namespace docgate
