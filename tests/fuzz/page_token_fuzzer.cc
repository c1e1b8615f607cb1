// libFuzzer target: ListDocuments page tokens. Any text a client sends is refused
// or decodes to a cursor that encodes back to a token decoding to the same cursor.
// The input is also sealed first, to reach the payload parser past the checksum.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/store/page_token.h"
#include "server/store/sealed_token.h"

namespace {

using namespace docgate::store;

void Decode(const std::string& token, DocStatus filter) {
  auto cursor = DecodePageToken(token, filter);
  if (!cursor.ok()) {
    if (cursor.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return;
  }
  auto again = DecodePageToken(EncodePageToken(*cursor), filter);
  if (!again.ok() || !(*again == *cursor)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto filter = static_cast<DocStatus>(data[0] % 6);
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  Decode(text, filter);
  Decode(Seal(text), filter);
  return 0;
}
