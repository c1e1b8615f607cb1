#pragma once

#include "docgate/v1/docgate.pb.h"
#include "server/store/document.h"

namespace docgate::service {

// Copies a stored document into its API form (the body only when it was read).
void ToProto(const store::Document& from, v1::Document* to);

// The content of a validated create request; the id is canonicalised, or made
// here (UUIDv7) when the client left it empty.
store::NewDocument NewDocumentFromProto(const v1::Document& from);

}  // namespace docgate::service
