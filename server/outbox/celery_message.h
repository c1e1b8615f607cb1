#pragma once

#include <cstdint>
#include <string>

#include "server/store/outbox_store.h"

namespace docgate::outbox {

// The message a Celery producer (message protocol 2, kombu's Redis transport) would
// LPUSH onto the task's queue: JSON with the headers Celery 5 sends, a base64 body
// of [args, kwargs, embed], and an ETA of commit time + countdown when there is one.
// `origin` names the sender (headers.origin); `delivery_tag` must be unique per
// delivery (kombu acks by it).
std::string CeleryMessage(const store::OutboxTask& task, const std::string& origin, const std::string& delivery_tag);

}  // namespace docgate::outbox
