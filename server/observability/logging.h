#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace docgate {

// Sets spdlog's default logger once, in main: to stderr, "text" or "json" lines
// (JSON with every message escaped), at `level` (spdlog's names); gRPC's and
// protobuf's own log lines go through it too. INVALID_ARGUMENT for an unknown
// format or level.
absl::Status SetUpLogging(const std::string& format, const std::string& level);

// While one lives on a thread, protobuf's log lines from that thread are kept in it
// instead of logged: a parser's complaint about a client's bytes belongs in that
// call's status and its one failure line. Nests; not shared between threads.
class ProtobufLogCapture {
 public:
  ProtobufLogCapture();
  ~ProtobufLogCapture();
  ProtobufLogCapture(const ProtobufLogCapture&) = delete;
  ProtobufLogCapture& operator=(const ProtobufLogCapture&) = delete;

  const std::string& text() const { return text_; }
  void Append(const std::string& line) { text_ += line; }

 private:
  ProtobufLogCapture* const outer_;
  std::string text_;
};

// Escapes `text` for a JSON string (without the quotes). Exposed for tests.
std::string JsonEscape(std::string_view text);

}  // namespace docgate
