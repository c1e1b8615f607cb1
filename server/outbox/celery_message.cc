#include "server/outbox/celery_message.h"

#include <ctime>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/json/escape.h"

namespace docgate::outbox {
namespace {

std::string Quoted(std::string_view text) {
  std::string out = "\"";
  json::AppendEscaped(out, text);
  return out + "\"";
}

// "2026-11-30T02:36:07.942322+00:00", as Celery writes an ETA.
std::string Iso8601(int64_t micros) {
  const std::time_t secs = static_cast<std::time_t>(micros / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[48];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%06ld+00:00", static_cast<long>(micros % 1000000));
  return buf;
}

}  // namespace

std::string CeleryMessage(const store::OutboxTask& task, const std::string& origin, const std::string& delivery_tag) {
  const std::string body = absl::StrCat("[", task.args_json, ", ", task.kwargs_json,
                                        ", {\"callbacks\": null, \"errbacks\": null, \"chain\": null, "
                                        "\"chord\": null}]");
  const std::string id = Quoted(task.task_id);
  const std::string eta = task.countdown_seconds > 0
                              ? Quoted(Iso8601(task.created_at_us + int64_t{task.countdown_seconds} * 1000000))
                              : "null";
  return absl::StrCat(
      "{\"body\": ", Quoted(absl::Base64Escape(body)),
      ", \"content-encoding\": \"utf-8\", \"content-type\": \"application/json\", \"headers\": {\"lang\": \"py\", "
      "\"task\": ",
      Quoted(task.task), ", \"id\": ", id, ", \"shadow\": null, \"eta\": ", eta,
      ", \"expires\": null, \"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], "
      "\"root_id\": ",
      id, ", \"parent_id\": null, \"argsrepr\": ", Quoted(task.args_json),
      ", \"kwargsrepr\": ", Quoted(task.kwargs_json), ", \"origin\": ", Quoted(origin),
      ", \"ignore_result\": false}, \"properties\": {\"correlation_id\": ", id,
      ", \"reply_to\": \"\", \"delivery_mode\": 2, \"delivery_info\": {\"exchange\": \"\", \"routing_key\": ",
      Quoted(task.queue), "}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": ", Quoted(delivery_tag),
      "}}");
}

}  // namespace docgate::outbox
