#pragma once

#include <vector>

#include "server/store/document.h"

namespace docgate::store {

// The document life cycle of SPEC: PENDING->PROCESSING, PROCESSING->COMPLETED|FAILED|PENDING,
// FAILED->PENDING. Nothing else, and no move to the same status.
bool IsAllowedMove(DocStatus from, DocStatus to);

// "PENDING", "PROCESSING", ... as in the API.
const char* StatusName(DocStatus status);

// Every status from which `to` may be reached.
std::vector<DocStatus> AllowedSources(DocStatus to);

}  // namespace docgate::store
