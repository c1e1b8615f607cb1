#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <grpcpp/security/server_credentials.h>

#include "absl/status/statusor.h"

namespace docgate::security {

// The TLS files of the gRPC port: PEM files, as cert-manager writes them.
struct TlsFiles {
  std::string cert;       // certificate chain; empty: plaintext
  std::string key;        // its private key
  std::string client_ca;  // CA that client certificates must chain to; empty: no client certificate asked
  std::chrono::milliseconds reload_interval{10000};
};

// Credentials for the gRPC port: plaintext when `files.cert` is empty, else TLS
// (mutual when `files.client_ca` is set) from files re-read every reload_interval,
// so that certificates rotated in place are served to new connections without a
// restart. Checks the files first, for a clear error at start instead of failed
// handshakes later: INVALID_ARGUMENT when one cannot be read or parsed, or the key
// does not match the certificate.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& files);

}  // namespace docgate::security
