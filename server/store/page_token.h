#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/document.h"

namespace docgate::store {

// Where the next page of ListDocuments starts: after (create_time_us, id), under
// the same status filter. Tokens are opaque and tamper-evident (a checksum), not
// secret: a client learns nothing from one it could not learn from the page.
struct PageCursor {
  DocStatus filter = DocStatus::kUnspecified;
  int64_t create_time_us = 0;
  std::string id;  // lowercase canonical UUID

  bool operator==(const PageCursor& o) const {
    return filter == o.filter && create_time_us == o.create_time_us && id == o.id;
  }
};

std::string EncodePageToken(const PageCursor& cursor);

// INVALID_ARGUMENT for anything EncodePageToken did not make, or a token made for
// another status filter than `filter`.
absl::StatusOr<PageCursor> DecodePageToken(const std::string& token, DocStatus filter);

}  // namespace docgate::store
