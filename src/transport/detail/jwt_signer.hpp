#pragma once
// JWS compact serialisation for SMART Backend Services client assertions (RFC 7515, RFC 7518 section 3):
// RS384 (RSASSA-PKCS1-v1_5 with SHA-384) and ES384 (ECDSA P-384 with SHA-384, signature as raw R||S). Private
// to transport/: the key stays in an OpenSSL object that no other folder sees, and nothing here logs.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cf::transport::detail {

class JwtSigner {
 public:
  // Reads an unencrypted PEM private key (PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY").
  // `algorithm` is "RS384", "ES384" or empty (then RSA keys sign RS384 and P-384 keys ES384). Refuses RSA
  // keys under 2048 bits, EC keys on other curves, a key that does not fit the algorithm, public keys,
  // certificates and encrypted keys (never prompts for a passphrase). Errors name the file, never its
  // content.
  static cf::Result<std::unique_ptr<JwtSigner>> load(const std::string& pem_file, std::string_view algorithm);
  ~JwtSigner();
  JwtSigner(const JwtSigner&) = delete;
  JwtSigner& operator=(const JwtSigner&) = delete;

  const std::string& algorithm() const { return algorithm_; }
  const std::string& key_description() const { return description_; }  // "RSA 2048-bit", "EC P-384"

  // base64url(header) "." base64url(claims) "." base64url(signature). Thread-safe.
  cf::Result<std::string> sign(std::string_view header_json, std::string_view claims_json) const;

 private:
  struct Key;
  JwtSigner(std::unique_ptr<Key> key, std::string algorithm, std::string description);
  std::unique_ptr<Key> key_;
  std::string algorithm_;
  std::string description_;
};

// base64url without padding (RFC 7515 section 2).
std::string base64url(std::string_view bytes);

// `bytes` bytes from OpenSSL's CSPRNG (RAND_bytes) as lower-case hex.
cf::Result<std::string> random_hex(std::size_t bytes);

// Overwrites a string that held a secret (OPENSSL_cleanse), then empties it.
void wipe(std::string& secret);

}  // namespace cf::transport::detail
