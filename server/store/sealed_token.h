#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace docgate::store {

// Opaque, tamper-evident tokens (page tokens, consistency tokens): a payload with
// a checksum, in URL-safe base64. Tamper-evident, not secret: a client could read
// the payload, and may forge only what it could have been given anyway.
std::string Seal(const std::string& payload);

// The payload of a token Seal made, or nullopt for anything else.
std::optional<std::string> Unseal(const std::string& token);

void AppendBigEndian64(std::string& out, uint64_t v);
// Reads 8 bytes at `at`; the caller checks the size.
uint64_t ReadBigEndian64(const std::string& bytes, size_t at);

}  // namespace docgate::store
