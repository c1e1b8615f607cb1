#include "server/db/connection_settings.h"

#include <libpq-fe.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/common/read_file.h"

namespace docgate::db {
namespace {

constexpr char kRedacted[] = "****";

// libpq key=value quoting: single quotes, with ' and \ escaped.
std::string Quote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseWithLibpq(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    if (error != nullptr) PQfreemem(error);  // may quote the input, which may hold a password
    return absl::InvalidArgumentError("database URL: libpq cannot parse it");
  }
  std::vector<std::pair<std::string, std::string>> params;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) params.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(options);
  return params;
}

void SetIfAbsent(std::vector<std::pair<std::string, std::string>>& params, const std::string& key,
                 const std::string& value) {
  for (const auto& [k, v] : params) {
    if (k == key) return;
  }
  params.emplace_back(key, value);
}

std::string Join(const std::vector<std::pair<std::string, std::string>>& params, bool redact) {
  std::string out;
  for (const auto& [k, v] : params) {
    absl::StrAppend(&out, out.empty() ? "" : " ", k, "=", Quote(redact && k == "password" ? kRedacted : v));
  }
  return out;
}

}  // namespace

absl::StatusOr<ConnectionSettings> ConnectionSettings::Parse(const std::string& url, std::string password_file,
                                                             std::chrono::milliseconds connect_timeout) {
  auto params = ParseWithLibpq(url);
  if (!params.ok()) return params.status();
  ConnectionSettings settings;
  settings.params_ = std::move(*params);
  // libpq ignores connect_timeout below 2 s; round up to whole seconds.
  const auto seconds = std::max<int64_t>(2, (connect_timeout.count() + 999) / 1000);
  SetIfAbsent(settings.params_, "connect_timeout", std::to_string(seconds));
  SetIfAbsent(settings.params_, "application_name", "docgate");
  SetIfAbsent(settings.params_, "keepalives", "1");
  SetIfAbsent(settings.params_, "keepalives_idle", "30");
  SetIfAbsent(settings.params_, "keepalives_interval", "10");
  SetIfAbsent(settings.params_, "keepalives_count", "3");
  // Unacknowledged data for this long means the peer is gone, even mid-query.
  SetIfAbsent(settings.params_, "tcp_user_timeout", "10000");
  // A backend whose client went away (a cut connection) stops its query within 1 s.
  SetIfAbsent(settings.params_, "options", "-c client_connection_check_interval=1000");
  settings.password_file_ = std::move(password_file);
  return settings;
}

absl::StatusOr<std::string> ConnectionSettings::ConnInfo() const {
  if (password_file_.empty()) return Join(params_, /*redact=*/false);
  auto contents = ReadWholeFile(password_file_);
  if (!contents) return absl::UnavailableError(absl::StrCat("cannot read the database password file ", password_file_));
  std::string password = std::move(*contents);
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  auto params = params_;
  params.erase(std::remove_if(params.begin(), params.end(), [](const auto& p) { return p.first == "password"; }),
               params.end());
  params.emplace_back("password", password);
  return Join(params, /*redact=*/false);
}

ConnectionSettings ConnectionSettings::ForRole(const std::string& role) const {
  ConnectionSettings copy = *this;
  for (auto& [k, v] : copy.params_) {
    if (k == "application_name" && v == "docgate") v = "docgate-" + role;
  }
  return copy;
}

std::string ConnectionSettings::Endpoint() const {
  std::string host = "localhost", port = "5432";
  for (const auto& [k, v] : params_) {
    if (k == "host" && !v.empty()) host = v;
    if (k == "port" && !v.empty()) port = v;
  }
  return host + ":" + port;
}

std::string RedactConnectionString(const std::string& conninfo) {
  if (conninfo.empty()) return conninfo;
  auto params = ParseWithLibpq(conninfo);
  if (!params.ok()) return "(unparseable, hidden)";
  return Join(*params, /*redact=*/true);
}

}  // namespace docgate::db
