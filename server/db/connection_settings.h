#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace docgate::db {

// How to reach PostgreSQL: the configured URI or key=value string, parsed once by
// libpq, plus docgate's own additions. Immutable; safe to share between threads.
class ConnectionSettings {
 public:
  // Parses `url` (empty: libpq's PG* variables apply). INVALID_ARGUMENT when libpq
  // cannot parse it; the message never repeats the string (it may hold a password).
  static absl::StatusOr<ConnectionSettings> Parse(const std::string& url, std::string password_file,
                                                  std::chrono::milliseconds connect_timeout);

  // The key=value string to hand to libpq, with the password file read now so that
  // a rotated secret takes effect at the next connect. UNAVAILABLE if it cannot be read.
  absl::StatusOr<std::string> ConnInfo() const;

  // These settings for a connection with another job: application_name becomes
  // "docgate-<role>" unless the configuration chose its own.
  ConnectionSettings ForRole(const std::string& role) const;

  // "HOST:PORT" as configured (libpq's defaults where absent): a name for logs and
  // metric labels that holds no secret.
  std::string Endpoint() const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;  // keyword -> value, parsed
  std::string password_file_;
};

// Replaces any password in a libpq URI or key=value string with "****". A string
// libpq cannot parse is replaced whole: it may hold a password we cannot find.
std::string RedactConnectionString(const std::string& conninfo);

}  // namespace docgate::db
