#pragma once
// SMART App Launch 2.2 Backend Services client authentication (RELIABILITY.md A1-A5, A7): discover the token
// endpoint from [base]/.well-known/smart-configuration (or take it from configuration), request access tokens
// with the client_credentials grant and a JWT client assertion signed RS384 or ES384 with a PEM private key,
// reuse a token until shortly before it expires, and renew it once when the FHIR server answers 401.
//
// Secrets: the private key stays inside OpenSSL; the client assertion is built per request and wiped after
// it; the access token leaves this class only through authorization()/reauthorize(). Errors and log lines
// name the token endpoint, the key file and the OAuth error code, never the key, an assertion or a token, and
// text the server sends back (error_description) is stripped of anything that looks like a token before it is
// shown.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "transport/http_client.hpp"

namespace cf::transport {

// Least privilege (RELIABILITY.md A4): the resource types the cohort search reads, read + search only.
inline constexpr std::string_view kDefaultSmartScopes =
    "system/Patient.rs system/Condition.rs system/Observation.rs system/MedicationRequest.rs "
    "system/MedicationStatement.rs system/MedicationAdministration.rs system/Procedure.rs "
    "system/Medication.rs";

struct SmartOptions {
  std::string fhir_base_url;         // absolute http(s) URL of the FHIR server
  std::string client_id;             // iss and sub of the client assertion
  std::string private_key_pem_file;  // unencrypted PEM private key: RSA >= 2048 bits or EC P-384
  std::string key_id;                // "kid" header: the key's id in the JWKS registered with the server
  std::string algorithm;             // "RS384", "ES384", or empty: RS384 for RSA keys, ES384 for EC keys
  std::string scopes = std::string(kDefaultSmartScopes);  // space-separated
  // Empty: discover it. Either way it must be https, or on the FHIR base's origin (scheme, host and port): a
  // plain-http endpoint elsewhere would expose the assertion and the token, so it is refused (RELIABILITY
  //
  std::string token_endpoint;
  // RELIABILITY A5: a discovered token endpoint on another origin than the FHIR server is used only when it
  // is https and its origin is listed here ("https://auth.example.org"); a configured one is the operator's
  // choice. Otherwise a tampered discovery document could send the client assertion anywhere.
  std::vector<std::string> token_origins;
  // A cached token is renewed once it expires within this margin (at most half the token's lifetime, so that
  // a short-lived token is still reused).
  std::chrono::milliseconds refresh_margin{60000};
  // One line per event (endpoint chosen, token obtained, warnings). Called with an internal lock held: it
  // must not call back into SmartAuth. Never receives a secret.
  std::function<void(const std::string&)> log;
};

// Whether `scopes` let a system client read and search every resource of `type`: system/<type or *> with
// read and search (SMART v2 "rs", "cruds"...; v1 "read" or "*"). A scope restricted by a query
// ("system/Observation.rs?category=laboratory") covers part of the type only, so it does not count.
bool scopes_grant_read(const std::vector<std::string>& scopes, std::string_view type);

class SmartAuth {
 public:
  // Loads and checks the key, then finds the token endpoint (a GET of the discovery document unless
  // options.token_endpoint is set). No token is requested yet. Errors: bad options, an unreadable or
  // unsuitable key file, discovery failing, a token endpoint that is neither https nor on the FHIR server's
  // origin.
  static cf::Result<std::shared_ptr<SmartAuth>> create(SmartOptions options,
                                                       std::shared_ptr<HttpClient> client);
  ~SmartAuth();
  SmartAuth(const SmartAuth&) = delete;
  SmartAuth& operator=(const SmartAuth&) = delete;

  // "Bearer <access token>": the cached token, or a new one when none is cached or it expires within the
  // refresh margin. Thread-safe; concurrent callers share one token request. The token request (a POST) is
  // repeated, with a fresh assertion, only when the connection could not be established (3 attempts in all).
  cf::Result<std::string> authorization();

  // For the caller's one re-authentication after a 401: requests a new token even if the cached one looks
  // valid.
  cf::Result<std::string> reauthorize();
  // The same, but when several threads were refused the same token at once only the first one requests a new
  // token: `rejected` is the Authorization value the 401 answered, and a different cached one is returned as
  // is.
  cf::Result<std::string> reauthorize(std::string_view rejected);

  const std::string& token_endpoint() const;  // as discovered or configured (the assertion's "aud")
  const std::string& algorithm() const;       // "RS384" or "ES384"
  // Scopes of the current grant: the response's "scope", or the requested ones when it has none. Empty before
  // the first token. A narrower grant than requested is also logged (RELIABILITY.md A4 marks types
  // incomplete).
  std::vector<std::string> granted_scopes() const;
  // RELIABILITY A4: the resource types of `types` the current grant does not let the client read and search
  // in full (a token is obtained first if none is cached). A source marks them incomplete, so that criteria
  // resting on them are unknown rather than decided on what a narrower grant let through.
  cf::Result<std::vector<std::string>> types_not_granted(const std::vector<std::string>& types);

  struct Counters {
    std::size_t token_requests = 0;  // POSTs sent to the token endpoint (each with its own assertion)
    std::size_t tokens = 0;          // access tokens obtained
  };
  Counters counters() const;

  static constexpr std::size_t max_token_response_bytes = 64 * 1024;
  static constexpr std::size_t max_discovery_bytes = 1024 * 1024;
  // "exp" of the assertion is now + this: SMART caps it at 5 minutes by the server's clock, and 240 s leaves
  // a minute for a server clock behind ours (RELIABILITY A2).
  static constexpr std::chrono::seconds assertion_lifetime{240};
  // Assumed when a token response has no usable expires_in (SMART: SHOULD NOT exceed 300).
  static constexpr std::chrono::seconds default_expires_in{300};

 private:
  class Impl;
  explicit SmartAuth(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::transport
