#include "server/observability/logging.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <ctime>

#include "server/common/log_limiter.h"
#include "server/json/escape.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace docgate {
namespace {

std::string Iso8601(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::system_clock::to_time_t(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%06ldZ", static_cast<long>(micros));
  return buf;
}

// spdlog 1.10 does not escape message text, so JSON lines need a formatter of our own.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    std::string line = "{\"time\":\"" + Iso8601(msg.time) + "\",\"level\":\"" +
                       std::string(level.data(), level.size()) + "\",\"msg\":\"" +
                       JsonEscape(std::string_view(msg.payload.data(), msg.payload.size())) + "\"}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

// gRPC's own lines (a failed TLS handshake, for one) in our format, so that a JSON
// log stays JSON; its errors are mostly a peer's (a plaintext client, a port
// scanner), hence warnings, and rate-limited.
void LogFromGrpc(gpr_log_func_args* args) {
  static LogLimiter lines(20, std::chrono::seconds(1));
  uint64_t suppressed = 0;
  if (args->severity == GPR_LOG_SEVERITY_ERROR && !lines.Allow(suppressed)) return;
  const auto level = args->severity == GPR_LOG_SEVERITY_ERROR  ? spdlog::level::warn
                     : args->severity == GPR_LOG_SEVERITY_INFO ? spdlog::level::info
                                                               : spdlog::level::debug;
  if (suppressed > 0) {
    spdlog::log(level, "grpc: {} similar_lines_not_logged={}", args->message, suppressed);
  } else {
    spdlog::log(level, "grpc: {}", args->message);
  }
}

thread_local ProtobufLogCapture* protobuf_capture = nullptr;

// Protobuf's own lines (a string that is not UTF-8, mostly: a client's bytes) in our
// format, or into the capture of the thread that is parsing; rate-limited.
void LogFromProtobuf(google::protobuf::LogLevel level, const char* /*file*/, int /*line*/, const std::string& message) {
  if (protobuf_capture != nullptr) return protobuf_capture->Append(message);
  static LogLimiter lines(20, std::chrono::seconds(1));
  uint64_t suppressed = 0;
  if (!lines.Allow(suppressed)) return;
  const auto ours = level >= google::protobuf::LOGLEVEL_FATAL   ? spdlog::level::critical
                    : level >= google::protobuf::LOGLEVEL_ERROR ? spdlog::level::warn
                                                                : spdlog::level::info;
  if (suppressed > 0) {
    spdlog::log(ours, "protobuf: {} similar_lines_not_logged={}", message, suppressed);
  } else {
    spdlog::log(ours, "protobuf: {}", message);
  }
}

}  // namespace

ProtobufLogCapture::ProtobufLogCapture() : outer_(protobuf_capture) { protobuf_capture = this; }

ProtobufLogCapture::~ProtobufLogCapture() { protobuf_capture = outer_; }

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  json::AppendEscaped(out, text);
  return out;
}

absl::Status SetUpLogging(const std::string& format, const std::string& level) {
  const auto parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") return absl::InvalidArgumentError("unknown log level " + level);
  if (format != "json" && format != "text") return absl::InvalidArgumentError("unknown log format " + format);
  auto logger = std::make_shared<spdlog::logger>("docgate", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonFormatter>());
  } else {
    logger->set_formatter(
        std::make_unique<spdlog::pattern_formatter>("%Y-%m-%dT%H:%M:%S.%fZ %l %v", spdlog::pattern_time_type::utc));
  }
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  gpr_set_log_function(&LogFromGrpc);
  google::protobuf::SetLogHandler(&LogFromProtobuf);
  return absl::OkStatus();
}

}  // namespace docgate
