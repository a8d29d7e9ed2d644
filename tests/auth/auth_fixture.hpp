#pragma once
// Fixtures for the SMART Backend Services tests: throwaway keys made with the openssl CLI, and
// token_server.js (Node.js, built-in modules only) started on 127.0.0.1 with OS-chosen ports and stopped in
// the destructor.
#include <memory>
#include <string>
#include <vector>

#include "fault-server/subprocess.hpp"
#include "fault-server/test_pki.hpp"
#include "transport/http_client.hpp"

namespace cf::auth_test {

inline constexpr const char* kClientId = "cohort-finder-test";
inline constexpr const char* kKid = "test-key-1";

// Generated once per test run in a temporary directory (mode 0600 files), removed at exit.
struct KeyFiles {
  std::string dir;
  std::string rsa, rsa_pub;     // RSA 2048, PKCS#8 PEM, and its public key
  std::string ec, ec_pub;       // EC P-384, PKCS#8 PEM, and its public key
  std::string rsa_traditional;  // the RSA key as "BEGIN RSA PRIVATE KEY" (PKCS#1)
  std::string ec_traditional;   // the EC key as "BEGIN EC PRIVATE KEY" (SEC 1)
  std::string ec_p256;          // EC P-256: the wrong curve for ES384
  std::string ec_encrypted;     // the EC key encrypted with a passphrase
  std::string certificate;      // a self-signed certificate (PEM), not a key
  std::string garbage;          // a text file that is no PEM at all
};
const KeyFiles& keys();

// The base64 lines of a PEM file (to check that no error or log line leaks a key).
std::vector<std::string> pem_body_lines(const std::string& file);

// One token request as token_server.js recorded and judged it.
struct TokenRequest {
  std::vector<std::string> violations;  // empty: the assertion passed every check
  std::string scheme, alg, typ, kid, iss, sub, aud, jti, header_keys, claim_keys;
  long long exp = 0, iat = 0, sig_bytes = 0;
  std::string grant_type, scope, client_assertion_type, content_type, form_keys;
  std::string assertion;  // the full client assertion (for leak checks)
  std::string issued;     // the access token issued for it, if any
};

struct Counts {
  long long discovery = 0, token = 0, fhir = 0, fhir_401 = 0;
};

class TokenServer {
 public:
  // public_key/alg: the key registered for kClientId under kKid. `args`: extra token_server.js options.
  // `tls`: also serve HTTPS with this certificate.
  TokenServer(const std::string& public_key, const std::string& alg, std::vector<std::string> args = {},
              const cf::testing::CertificateFiles* tls = nullptr);

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string base() const { return origin() + "/fhir"; }
  std::string token_url() const { return origin() + "/token"; }

  std::vector<TokenRequest> token_requests() const;
  Counts counts() const;
  void revoke_tokens() const;
  // GET /fhir/Patient with this Authorization value: the HTTP status.
  int get_patient(const std::string& authorization) const;

 private:
  std::string control(const std::string& path) const;
  cf::testing::Subprocess process_;
  int port_ = 0;
  int tls_port_ = 0;
  std::unique_ptr<cf::transport::HttpClient> control_client_;
};

}  // namespace cf::auth_test
