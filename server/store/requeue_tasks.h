#pragma once

#include <string>
#include <vector>

#include "server/store/document.h"

namespace docgate::store {

// The tasks a write that makes a document PENDING enqueues, as documents.requeue_tasks
// keeps them for a lease that runs out (kExpireLeases reads them with
// jsonb_to_recordset): a JSON array of {task, queue, args, kwargs, countdown_s}.
// args and kwargs go in as they are (validated JSON); empty `tasks` is "[]".
std::string RequeueTasksJson(const std::vector<Task>& tasks);

}  // namespace docgate::store
