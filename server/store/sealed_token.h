#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace docgate::store {

// Opaque, tamper-evident tokens (page tokens, consistency tokens): a payload with
// a checksum, in URL-safe base64. Tamper-evident, not secret: a client could read
// the payload, and may forge only what it could have been given anyway (the
// checks that matter are made on the payload: see consistency_token.h).
// `binding`, when not 0, enters the checksum and not the payload: a token sealed
// with one binding does not unseal with another.
std::string Seal(const std::string& payload, uint64_t binding = 0);

// The payload of a token Seal made with the same binding, or nullopt for anything else.
std::optional<std::string> Unseal(const std::string& token, uint64_t binding = 0);

void AppendBigEndian64(std::string& out, uint64_t v);
// Reads 8 bytes at `at`; the caller checks the size.
uint64_t ReadBigEndian64(const std::string& bytes, size_t at);

}  // namespace docgate::store
