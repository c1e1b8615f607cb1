#pragma once

#include <cstdint>

#include <google/protobuf/descriptor.h>

namespace docgate {

// The (docgate.v1.limit) option of `message`'s `field` (with `total`, its
// limit_total_bytes), read from docgate.proto's descriptor: the API's limits are
// stated there once. A field without the option is a bug in the proto: it aborts,
// at start and in every test.
int64_t ProtoLimit(const google::protobuf::Descriptor* message, const char* field, bool total = false);

}  // namespace docgate
