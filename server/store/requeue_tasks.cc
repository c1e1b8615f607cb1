#include "server/store/requeue_tasks.h"

#include "absl/strings/str_cat.h"
#include "server/json/escape.h"

namespace docgate::store {

std::string RequeueTasksJson(const std::vector<Task>& tasks) {
  std::string out = "[";
  for (const Task& t : tasks) {
    if (out.size() > 1) out += ',';
    out += "{\"task\":\"";
    json::AppendEscaped(out, t.task);
    out += "\",\"queue\":\"";
    json::AppendEscaped(out, t.queue);
    absl::StrAppend(&out, "\",\"args\":", t.args_json, ",\"kwargs\":", t.kwargs_json,
                    ",\"countdown_s\":", t.countdown_seconds, "}");
  }
  return out + "]";
}

}  // namespace docgate::store
