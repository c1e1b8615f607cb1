#include "server/security/server_credentials.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

namespace docgate::security {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

std::unique_ptr<BIO, BioFree> OpenPem(const std::string& path) { return {BIO_new_file(path.c_str(), "r"), {}}; }

absl::StatusOr<X509Ptr> ReadCertificate(const std::string& flag, const std::string& path) {
  auto bio = OpenPem(path);
  if (!bio) return absl::InvalidArgumentError(flag + ": cannot read " + path);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return absl::InvalidArgumentError(flag + ": " + path + " holds no PEM certificate");
  return cert;
}

absl::Status CheckFiles(const TlsFiles& files) {
  auto cert = ReadCertificate("--tls-cert", files.cert);
  if (!cert.ok()) return cert.status();
  auto bio = OpenPem(files.key);
  if (!bio) return absl::InvalidArgumentError("--tls-key: cannot read " + files.key);
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError("--tls-key: " + files.key + " holds no unencrypted PEM private key");
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return absl::InvalidArgumentError("--tls-key: the key does not match the certificate of --tls-cert");
  }
  if (!files.client_ca.empty()) {
    if (auto ca = ReadCertificate("--tls-client-ca", files.client_ca); !ca.ok()) return ca.status();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsFiles& files) {
  if (files.cert.empty()) return grpc::InsecureServerCredentials();
  if (auto s = CheckFiles(files); !s.ok()) return s;
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(files.reload_interval).count();
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key, files.cert, files.client_ca, static_cast<unsigned int>(std::max<int64_t>(1, seconds)));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (files.client_ca.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace docgate::security
