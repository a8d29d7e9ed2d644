#include "transport/detail/jwt_signer.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <vector>

#include "core/secret_file.hpp"
#include "core/text.hpp"

namespace cf::transport::detail {
namespace {

// A key file is a few KB; a larger "key" is the wrong file, and /dev/zero-like files must not be read
// forever.
constexpr std::uintmax_t kMaxKeyFileBytes = 64 * 1024;
// ES384: R and S are each the size of the P-384 group order (RFC 7518 section 3.4).
constexpr int kEs384PartBytes = 48;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct EcdsaSigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

// OpenSSL keeps a per-thread error queue; a stale entry can make a later TLS call on this thread look failed.
// Returns the last reason (library text such as "bad decrypt", never key material) and clears the queue.
std::string take_openssl_error() {
  const unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    const char* text = ERR_reason_error_string(code);
    reason = text ? text : "error " + std::to_string(code);
  }
  ERR_clear_error();
  return reason;
}

// Passphrase callback that never prompts: an encrypted key is refused instead of blocking a cron job on a
// tty.
int refuse_passphrase(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

cf::Error key_error(const std::string& file, std::string message) {
  return cf::make_error(std::move(message), "private key file " + file);
}

}  // namespace

struct JwtSigner::Key {
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey;
  bool ec = false;
};

JwtSigner::JwtSigner(std::unique_ptr<Key> key, std::string algorithm, std::string description)
    : key_(std::move(key)), algorithm_(std::move(algorithm)), description_(std::move(description)) {}

JwtSigner::~JwtSigner() = default;

cf::Result<std::unique_ptr<JwtSigner>> JwtSigner::load(const std::string& pem_file,
                                                       std::string_view algorithm) {
  if (!algorithm.empty() && algorithm != "RS384" && algorithm != "ES384")
    return cf::make_error(
        "algorithm must be RS384 or ES384, got '" + cf::sanitize_for_log(algorithm, 20) + "'",
        "SMART client assertion");
  if (pem_file.empty()) return cf::make_error("no private key file given", "SMART client assertion");
  auto pem = cf::read_secret_file(pem_file, "private key file");
  if (!pem) return key_error(pem_file, pem.error().message);
  if (pem->size() > kMaxKeyFileBytes)
    return key_error(pem_file,
                     "is " + std::to_string(pem->size()) + " bytes, too large for a PEM private key");
  auto bio_of_pem = [&pem] {
    return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  };
  auto bio = bio_of_pem();
  if (!bio) {
    ERR_clear_error();
    return key_error(pem_file, "cannot read it: out of memory");
  }
  bool asked_passphrase = false;
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, &asked_passphrase));
  if (!pkey) {
    ERR_clear_error();
    if (asked_passphrase)
      return key_error(
          pem_file,
          "is encrypted; give an unencrypted PEM key (PKCS#8) and protect it with file permissions");
    // Say what the file is instead, when it is a common mistake.
    if (auto again = bio_of_pem()) {
      std::unique_ptr<EVP_PKEY, PkeyFree> pub(PEM_read_bio_PUBKEY(again.get(), nullptr, nullptr, nullptr));
      ERR_clear_error();
      if (pub) return key_error(pem_file, "holds a public key, not a private key");
    }
    if (auto again = bio_of_pem()) {
      std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(again.get(), nullptr, nullptr, nullptr));
      ERR_clear_error();
      if (cert) return key_error(pem_file, "holds a certificate, not a private key");
    }
    return key_error(pem_file, "is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)");
  }

  auto key = std::make_unique<Key>();
  std::string description;
  std::string chosen(algorithm);
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    const int bits = EVP_PKEY_get_bits(pkey.get());
    if (bits < 2048)
      return key_error(pem_file, "RSA key has " + std::to_string(bits) + " bits; RS384 needs at least 2048");
    if (chosen.empty()) chosen = "RS384";
    if (chosen != "RS384") return key_error(pem_file, "holds an RSA key, which cannot sign " + chosen);
    description = "RSA " + std::to_string(bits) + "-bit";
  } else if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    char group[64] = {};
    std::size_t group_len = 0;
    if (EVP_PKEY_get_group_name(pkey.get(), group, sizeof group, &group_len) != 1) {
      ERR_clear_error();
      return key_error(pem_file, "holds an EC key whose curve cannot be determined");
    }
    const std::string curve(group, group_len);
    if (curve != "secp384r1" && curve != "P-384")
      return key_error(pem_file, "holds an EC key on curve " + cf::sanitize_for_log(curve, 40) +
                                     "; ES384 needs P-384 (secp384r1)");
    if (chosen.empty()) chosen = "ES384";
    if (chosen != "ES384") return key_error(pem_file, "holds an EC P-384 key, which cannot sign " + chosen);
    description = "EC P-384";
    key->ec = true;
  } else {
    return key_error(pem_file, "holds a key type other than RSA or EC; SMART needs RS384 or ES384");
  }
  key->pkey = std::move(pkey);
  return std::unique_ptr<JwtSigner>(new JwtSigner(std::move(key), std::move(chosen), std::move(description)));
}

cf::Result<std::string> JwtSigner::sign(std::string_view header_json, std::string_view claims_json) const {
  std::string signing_input = base64url(header_json) + "." + base64url(claims_json);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
  auto fail = [](const std::string& what) {
    const std::string reason = take_openssl_error();
    return cf::make_error(what + (reason.empty() ? "" : ": " + reason), "SMART client assertion");
  };
  if (!ctx || EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha384(), nullptr, key_->pkey.get()) != 1)
    return fail("cannot start the " + algorithm_ + " signature");
  if (!key_->ec && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)
    return fail("cannot select RSASSA-PKCS1-v1_5 padding");
  const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
  std::size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, data, signing_input.size()) != 1)
    return fail("cannot size the " + algorithm_ + " signature");
  std::vector<unsigned char> der(length);
  if (EVP_DigestSign(ctx.get(), der.data(), &length, data, signing_input.size()) != 1)
    return fail("cannot compute the " + algorithm_ + " signature");
  der.resize(length);

  std::string signature;
  if (!key_->ec) {
    signature.assign(reinterpret_cast<const char*>(der.data()), der.size());
  } else {
    // OpenSSL returns ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs); JWS wants R||S, each left-padded to 48
    // bytes.
    const unsigned char* p = der.data();
    std::unique_ptr<ECDSA_SIG, EcdsaSigFree> sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
    if (!sig) return fail("cannot decode the ECDSA signature");
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    unsigned char raw[2 * kEs384PartBytes];
    if (BN_bn2binpad(r, raw, kEs384PartBytes) != kEs384PartBytes ||
        BN_bn2binpad(s, raw + kEs384PartBytes, kEs384PartBytes) != kEs384PartBytes)
      return fail("ECDSA signature does not fit 2 x 48 bytes");
    signature.assign(reinterpret_cast<const char*>(raw), sizeof raw);
  }
  return signing_input + "." + base64url(signature);
}

std::string base64url(std::string_view bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto at = [&](std::size_t j) { return static_cast<unsigned>(static_cast<unsigned char>(bytes[j])); };
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i < bytes.size()) {
    unsigned v = at(i) << 16;
    if (i + 1 < bytes.size()) v |= at(i + 1) << 8;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    if (i + 1 < bytes.size()) out += k[(v >> 6) & 63];
  }
  return out;
}

cf::Result<std::string> random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    ERR_clear_error();
    return cf::make_error("OpenSSL's random generator failed (RAND_bytes)", "SMART client assertion");
  }
  return cf::hex(buf.data(), buf.size());
}

void wipe(std::string& secret) {
  if (!secret.empty()) OPENSSL_cleanse(secret.data(), secret.size());
  secret.clear();
}

}  // namespace cf::transport::detail
