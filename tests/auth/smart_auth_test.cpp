// SMART Backend Services client authentication (RELIABILITY.md A1-A5, A7; scenarios,
// ) against token_server.js, which verifies every client assertion with the
// registered public key.
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <thread>

#include "auth_fixture.hpp"
#include "core/text.hpp"
#include "fault-server/fault_server.hpp"
#include "source/bulk_source.hpp"
#include "source/rest_source.hpp"
#include "transport/smart_auth.hpp"
#include "transport/test_support.hpp"

using namespace cf::transport;
using namespace cf::auth_test;
using cf::transport::test::contains;
using cf::transport::test::LogLines;

namespace {

const std::string kDefaultScopes(kDefaultSmartScopes);

std::shared_ptr<HttpClient> http_client(ClientOptions o = cf::transport::test::fast_options()) {
  o.retry.max_attempts = 2;
  auto c = HttpClient::create(std::move(o));
  BOOST_REQUIRE_MESSAGE(c.ok(), (c.ok() ? std::string() : c.error().what()));
  return std::shared_ptr<HttpClient>(std::move(*c));
}

SmartOptions options_for(const TokenServer& server, const std::string& key_file, const LogLines& log) {
  SmartOptions o;
  o.fhir_base_url = server.base();
  o.client_id = kClientId;
  o.private_key_pem_file = key_file;
  o.key_id = kKid;
  o.log = const_cast<LogLines&>(log).sink();
  return o;
}

std::shared_ptr<SmartAuth> expect_auth(cf::Result<std::shared_ptr<SmartAuth>> r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), "SmartAuth::create failed: " + (r.ok() ? std::string() : r.error().what()));
  return std::move(*r);
}

std::string expect_token(const cf::Result<std::string>& r) {
  BOOST_REQUIRE_MESSAGE(r.ok(), "no token: " + (r.ok() ? std::string() : r.error().what()));
  return *r;
}

template <class T>
std::string expect_failure(const cf::Result<T>& r) {
  BOOST_REQUIRE_MESSAGE(!r.ok(), "expected an error");
  return r.error().what();
}

std::string all_lines(const LogLines& log) {
  std::string out;
  for (const auto& l : log.lines()) out += l + "\n";
  return out;
}

// Nothing secret in `text`: no assertion (or any of its three parts), no issued token, no line of the key
// file.
void expect_no_secret(const std::string& text, const std::vector<TokenRequest>& requests,
                      const std::string& key_file) {
  for (const auto& r : requests) {
    BOOST_TEST(!r.assertion.empty());
    BOOST_TEST(!contains(text, r.assertion));
    for (const auto& part : cf::split(r.assertion, '.'))
      BOOST_TEST(!contains(text, part), "assertion part leaked");
    if (!r.issued.empty()) BOOST_TEST(!contains(text, r.issued), "access token leaked");
  }
  const auto lines = pem_body_lines(key_file);
  BOOST_TEST(!lines.empty());
  for (const auto& line : lines) BOOST_TEST(!contains(text, line), "private key leaked");
}

void expect_valid_assertion(const TokenRequest& r, const TokenServer& server, const std::string& alg) {
  BOOST_TEST(r.violations.empty(),
             "token server found: " + (r.violations.empty() ? "" : r.violations.front()));
  BOOST_TEST(r.alg == alg);
  BOOST_TEST(r.typ == "JWT");
  BOOST_TEST(r.kid == kKid);
  BOOST_TEST(r.header_keys == "alg,kid,typ");
  BOOST_TEST(r.iss == kClientId);
  BOOST_TEST(r.sub == kClientId);
  BOOST_TEST(r.aud == server.token_url());
  BOOST_TEST(r.claim_keys == "aud,exp,iat,iss,jti,sub");
  BOOST_TEST(r.exp - r.iat == 240);  // RELIABILITY A2: at most 240 s
  BOOST_TEST(r.jti.size() == 32u);
  BOOST_TEST(r.sig_bytes == (alg == "ES384" ? 96 : 256));
  BOOST_TEST(r.grant_type == "client_credentials");
  BOOST_TEST(r.client_assertion_type == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
  BOOST_TEST(r.content_type == "application/x-www-form-urlencoded");
  BOOST_TEST(r.form_keys == "client_assertion,client_assertion_type,grant_type,scope");
  BOOST_TEST(r.scope == kDefaultScopes);
}

std::vector<std::string> scopes_of(std::string_view s) {
  std::vector<std::string> out;
  for (auto part : cf::split(s, ' ')) out.emplace_back(part);
  return out;
}

// SmartOptions that need no server: the token endpoint is configured, so create() sends nothing.
SmartOptions offline_options(const std::string& key_file) {
  SmartOptions o;
  o.fhir_base_url = "http://127.0.0.1:9/fhir";
  o.token_endpoint = "http://127.0.0.1:9/token";
  o.client_id = kClientId;
  o.private_key_pem_file = key_file;
  o.key_id = kKid;
  return o;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(smart_auth)

BOOST_AUTO_TEST_CASE(rs384_assertion_verifies_and_the_token_is_reused) {
  TokenServer server(keys().rsa_pub, "RS384");
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
  BOOST_TEST(auth->algorithm() == "RS384");
  BOOST_TEST(auth->token_endpoint() == server.token_url());
  BOOST_TEST(auth->granted_scopes().empty());

  const std::string first = expect_token(auth->authorization());
  const std::string second = expect_token(auth->authorization());
  BOOST_TEST(first == second);
  const auto requests = server.token_requests();
  BOOST_REQUIRE(requests.size() == 1u);
  expect_valid_assertion(requests[0], server, "RS384");
  BOOST_TEST(first == "Bearer " + requests[0].issued);
  BOOST_TEST(server.get_patient(first) == 200);
  const Counts counts = server.counts();
  BOOST_TEST(counts.discovery == 1);
  BOOST_TEST(counts.token == 1);
  BOOST_TEST(auth->counters().token_requests == 1u);
  BOOST_TEST(auth->counters().tokens == 1u);
  BOOST_TEST(auth->granted_scopes() == scopes_of(kDefaultScopes), boost::test_tools::per_element());
  const std::string logged = all_lines(log);
  BOOST_TEST(contains(logged, "smart: token endpoint " + server.token_url() +
                                  " (from the SMART configuration of " + server.origin() +
                                  "), client assertion RS384 with a RSA 2048-bit key"));
  BOOST_TEST(contains(logged, "smart: obtained an access token; expires in 300 s"));
  expect_no_secret(logged, requests, keys().rsa);
}

BOOST_AUTO_TEST_CASE(es384_assertion_is_raw_r_s_and_verifies) {
  TokenServer server(keys().ec_pub, "ES384");
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  BOOST_TEST(auth->algorithm() == "ES384");
  const std::string token = expect_token(auth->authorization());
  // Three more assertions: ECDSA signatures are randomised, so a DER/R||S mix-up would show up in some.
  for (int i = 0; i < 3; ++i) expect_token(auth->reauthorize());
  const auto requests = server.token_requests();
  BOOST_REQUIRE(requests.size() == 4u);
  for (const auto& r : requests) expect_valid_assertion(r, server, "ES384");
  BOOST_TEST(token == "Bearer " + requests[0].issued);
  BOOST_TEST(contains(all_lines(log), "client assertion ES384 with a EC P-384 key"));
}

BOOST_AUTO_TEST_CASE(traditional_pem_formats_sign_too) {
  TokenServer rsa_server(keys().rsa_pub, "RS384");
  TokenServer ec_server(keys().ec_pub, "ES384");
  LogLines log;
  auto rsa =
      expect_auth(SmartAuth::create(options_for(rsa_server, keys().rsa_traditional, log), http_client()));
  auto ec = expect_auth(SmartAuth::create(options_for(ec_server, keys().ec_traditional, log), http_client()));
  expect_token(rsa->authorization());
  expect_token(ec->authorization());
  BOOST_REQUIRE(rsa_server.token_requests().size() == 1u);
  BOOST_REQUIRE(ec_server.token_requests().size() == 1u);
  expect_valid_assertion(rsa_server.token_requests()[0], rsa_server, "RS384");
  expect_valid_assertion(ec_server.token_requests()[0], ec_server, "ES384");
}

BOOST_AUTO_TEST_CASE(a_token_about_to_expire_is_renewed) {
  TokenServer server(keys().ec_pub, "ES384", {"--expires-in", "2"});
  LogLines log;
  SmartOptions o = options_for(server, keys().ec, log);
  o.refresh_margin = std::chrono::seconds(1);
  auto auth = expect_auth(SmartAuth::create(o, http_client()));
  const std::string first = expect_token(auth->authorization());
  BOOST_TEST(expect_token(auth->authorization()) == first);  // 2 s left: more than the 1 s margin
  BOOST_TEST(server.token_requests().size() == 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // 0.8 s left: within the margin
  const std::string renewed = expect_token(auth->authorization());
  BOOST_TEST(renewed != first);
  const auto requests = server.token_requests();
  BOOST_REQUIRE(requests.size() == 2u);
  BOOST_TEST(renewed == "Bearer " + requests[1].issued);
  BOOST_TEST(requests[0].jti != requests[1].jti);
  for (const auto& r : requests) BOOST_TEST(r.violations.empty());
  BOOST_TEST(server.get_patient(renewed) == 200);
  BOOST_TEST(contains(all_lines(log), "expires in 2 s"));
}

BOOST_AUTO_TEST_CASE(a_margin_longer_than_the_token_still_reuses_it) {
  // expires_in 2 s with the default 60 s margin: the margin shrinks to half the lifetime instead of
  // requesting a token on every call.
  TokenServer server(keys().ec_pub, "ES384", {"--expires-in", "2"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  const std::string first = expect_token(auth->authorization());
  BOOST_TEST(expect_token(auth->authorization()) == first);
  BOOST_TEST(expect_token(auth->authorization()) == first);
  BOOST_TEST(server.token_requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(reauthorize_after_a_401_gets_a_new_token_once) {
  TokenServer server(keys().rsa_pub, "RS384");
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
  const std::string old_token = expect_token(auth->authorization());
  BOOST_TEST(server.get_patient(old_token) == 200);
  server.revoke_tokens();
  BOOST_TEST(server.get_patient(old_token) == 401);

  // What RestSource does on a 401: re-authenticate once, naming the refused value, and repeat the request.
  const std::string renewed = expect_token(auth->reauthorize(old_token));
  BOOST_TEST(renewed != old_token);
  BOOST_TEST(server.get_patient(renewed) == 200);
  BOOST_TEST(expect_token(auth->authorization()) == renewed);  // cached again
  BOOST_TEST(server.token_requests().size() == 2u);
  // A second thread that was refused the old token at the same time gets the renewed one, no new request.
  BOOST_TEST(expect_token(auth->reauthorize(old_token)) == renewed);
  BOOST_TEST(server.token_requests().size() == 2u);
  // reauthorize() without the refused value always asks.
  const std::string forced = expect_token(auth->reauthorize());
  BOOST_TEST(forced != renewed);
  const auto requests = server.token_requests();
  BOOST_REQUIRE(requests.size() == 3u);
  for (const auto& r : requests) BOOST_TEST(r.violations.empty());
  BOOST_TEST(forced == "Bearer " + requests[2].issued);
  BOOST_TEST(
      contains(all_lines(log), "the FHIR server refused the access token (401); requesting a new one"));
  expect_no_secret(all_lines(log), requests, keys().rsa);
}

BOOST_AUTO_TEST_CASE(concurrent_callers_share_one_request_and_jti_is_never_reused) {
  TokenServer server(keys().ec_pub, "ES384");
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  std::vector<std::string> seen(8);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < seen.size(); ++i)
    threads.emplace_back([&, i] {
      auto r = auth->authorization();
      seen[i] = r.ok() ? *r : "error: " + r.error().what();
    });
  for (auto& t : threads) t.join();
  for (const auto& s : seen) BOOST_TEST(s == seen[0]);
  BOOST_TEST(server.token_requests().size() == 1u);

  for (int i = 0; i < 5; ++i) expect_token(auth->reauthorize());
  const auto requests = server.token_requests();
  BOOST_REQUIRE(requests.size() == 6u);
  std::set<std::string> jtis, tokens;
  for (const auto& r : requests) {
    BOOST_TEST(r.violations.empty());  // includes the server's replay check
    BOOST_TEST(r.jti.find_first_not_of("0123456789abcdef") == std::string::npos);
    jtis.insert(r.jti);
    tokens.insert(r.issued);
  }
  BOOST_TEST(jtis.size() == 6u);
  BOOST_TEST(tokens.size() == 6u);
  BOOST_TEST(auth->counters().token_requests == 6u);
}

BOOST_AUTO_TEST_CASE(invalid_client_is_clear_and_leaks_nothing) {
  // The server echoes the assertion in error_description, as careless servers do.
  TokenServer server(keys().rsa_pub, "RS384", {"--error", "invalid_client"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
  const std::string error = expect_failure(auth->authorization());
  const auto requests = server.token_requests();
  BOOST_REQUIRE(requests.size() == 1u);  // a configuration error is not retried
  BOOST_TEST(error == "SMART token endpoint " + server.token_url() +
                          ": the token request was refused with HTTP 401: invalid_client (\"rejected client "
                          "assertion [redacted]\"); check the client id 'cohort-finder-test', the key id "
                          "'test-key-1' and that the "
                          "server holds the matching public key for RS384");
  expect_no_secret(error, requests, keys().rsa);
  expect_no_secret(all_lines(log), requests, keys().rsa);
  BOOST_TEST(auth->counters().tokens == 0u);
}

BOOST_AUTO_TEST_CASE(invalid_client_with_a_skewed_server_clock_says_so) {
  TokenServer server(keys().ec_pub, "ES384", {"--error", "invalid_client", "--date-offset", "600"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  const std::string error = expect_failure(auth->authorization());
  BOOST_TEST(contains(error, "HTTP 401: invalid_client"));
  BOOST_TEST(contains(
      error, "; clock skew suspected: the server's Date header differs from this machine's clock by "));
  BOOST_TEST((contains(error, "by 599 s") || contains(error, "by 600 s")), error);
}

BOOST_AUTO_TEST_CASE(invalid_scope_names_the_scopes) {
  TokenServer server(keys().ec_pub, "ES384", {"--error", "invalid_scope"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  const std::string error = expect_failure(auth->authorization());
  BOOST_TEST(contains(error, ": the token request was refused with HTTP 400: invalid_scope ("));
  BOOST_TEST(contains(error, "; the server does not allow the requested scopes: " + kDefaultScopes));
  expect_no_secret(error, server.token_requests(), keys().ec);
  BOOST_TEST(server.token_requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_foreign_plain_http_token_endpoint_is_refused) {
  TokenServer probe(keys().rsa_pub, "RS384");
  const std::string foreign = "http://127.0.0.2:" + std::to_string(probe.port()) + "/token";
  TokenServer server(keys().rsa_pub, "RS384", {"--token-endpoint", foreign});
  LogLines log;
  const std::string error =
      expect_failure(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
  BOOST_TEST(error == "SMART Backend Services: refusing the token endpoint " + foreign +
                          " from the SMART configuration of " + server.origin() +
                          ": plain http on another origin than the FHIR server (" + server.origin() +
                          ") would expose the client assertion and the access token; it must use https");
  BOOST_TEST(server.counts().discovery == 1);
  BOOST_TEST(server.counts().token == 0);
  BOOST_TEST(probe.counts().token == 0);

  // The same rule for a configured endpoint (another host name, same port): refused without any request.
  SmartOptions o = options_for(server, keys().rsa, log);
  o.token_endpoint = "http://localhost:" + std::to_string(server.port()) + "/token";
  BOOST_TEST(
      contains(expect_failure(SmartAuth::create(o, http_client())),
               "refusing the token endpoint " + o.token_endpoint + " from the configuration: plain http"));
  BOOST_TEST(server.counts().discovery == 1);
  BOOST_TEST(server.counts().token == 0);
}

// RELIABILITY A5: a discovered https endpoint on another origin is used only when that origin is listed.
BOOST_AUTO_TEST_CASE(a_foreign_https_token_endpoint_needs_its_origin_listed) {
  const cf::testing::TestPki pki;
  TokenServer server(keys().ec_pub, "ES384", {"--tls-token-endpoint"}, &pki.server);
  const std::string origin = "https://localhost:" + std::to_string(server.tls_port());
  const std::string endpoint = origin + "/token";
  ClientOptions co = cf::transport::test::fast_options();
  co.ca_file = pki.ca_file;
  LogLines log;
  SmartOptions o = options_for(server, keys().ec, log);
  o.token_origins = {"https://auth.example.org", "https://localhost:1"};  // other origins
  BOOST_TEST(expect_failure(SmartAuth::create(o, http_client(co))) ==
             "SMART Backend Services: refusing the token endpoint " + endpoint +
                 " from the SMART configuration of " + server.origin() +
                 ": it is on another origin than the FHIR server (" + server.origin() +
                 "); if the hospital's authorisation server is there, list " + origin +
                 " in smart_token_origins or set smart_token_endpoint");
  BOOST_TEST(server.token_requests().empty());

  o.token_origins.push_back("https://LOCALHOST:" + std::to_string(server.tls_port()) + "/");  // normalised
  auto auth = expect_auth(SmartAuth::create(o, http_client(co)));
  BOOST_TEST(auth->token_endpoint() == endpoint);
  BOOST_TEST(contains(all_lines(log), "smart: note: the token endpoint " + endpoint +
                                          " (from the SMART configuration of " + server.origin() +
                                          ") is on another origin than the FHIR server " + server.origin() +
                                          "; accepted: its origin is listed"));
  const std::string token = expect_token(auth->authorization());
  const auto requests = server.token_requests();
  BOOST_REQUIRE(requests.size() == 1u);
  BOOST_TEST(requests[0].scheme == "https");
  BOOST_TEST(requests[0].aud == endpoint);
  BOOST_TEST(requests[0].violations.empty());
  BOOST_TEST(token == "Bearer " + requests[0].issued);

  // Configured by the operator, the same endpoint needs no list.
  SmartOptions configured = options_for(server, keys().ec, log);
  configured.token_endpoint = endpoint;
  BOOST_TEST(expect_auth(SmartAuth::create(configured, http_client(co)))->token_endpoint() == endpoint);
}

BOOST_AUTO_TEST_CASE(a_missing_expires_in_defaults_to_300_seconds) {
  TokenServer server(keys().rsa_pub, "RS384", {"--no-expires-in"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
  const std::string first = expect_token(auth->authorization());
  BOOST_TEST(expect_token(auth->authorization()) == first);
  BOOST_TEST(server.token_requests().size() == 1u);
  const std::string logged = all_lines(log);
  BOOST_TEST(contains(logged, "smart: warning: the token response has no expires_in; assuming 300 s\n"));
  BOOST_TEST(contains(logged, "smart: obtained an access token; expires in 300 s\n"));
}

BOOST_AUTO_TEST_CASE(a_10_mb_token_response_is_refused) {
  TokenServer server(keys().rsa_pub, "RS384", {"--big-response", "10485760"});
  LogLines log;
  // With a shared client (512 MiB body limit) the size check of SmartAuth refuses it.
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
  const std::string error = expect_failure(auth->authorization());
  BOOST_TEST(error ==
             "SMART token endpoint " + server.token_url() +
                 ": the token response (HTTP 200) is 10485760 bytes, more than the 65536 allowed; refused");
  // With a dedicated auth client limited to 64 KiB (what the CLI should use) the transport stops reading
  // early.
  ClientOptions small = cf::transport::test::fast_options();
  small.max_body_bytes = SmartAuth::max_token_response_bytes;
  small.max_decoded_bytes = SmartAuth::max_token_response_bytes;
  auto limited = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client(small)));
  BOOST_TEST(expect_failure(limited->authorization()) ==
             "SMART token endpoint " + server.token_url() +
                 ": cannot reach the token endpoint: response body exceeds the limit of 65536 bytes");
  BOOST_TEST(server.token_requests().size() == 2u);
}

BOOST_AUTO_TEST_CASE(a_non_json_token_response_is_refused) {
  TokenServer server(keys().rsa_pub, "RS384", {"--non-json"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
  BOOST_TEST(expect_failure(auth->authorization()) ==
             "SMART token endpoint " + server.token_url() +
                 ": the token response (HTTP 200, Content-Type text/html) is not a JSON object; refused");
}

BOOST_AUTO_TEST_CASE(a_narrower_grant_is_logged_and_reported) {
  TokenServer server(keys().ec_pub, "ES384", {"--grant-scope", "system/Patient.rs system/Condition.rs"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  expect_token(auth->authorization());
  BOOST_TEST(auth->granted_scopes() == scopes_of("system/Patient.rs system/Condition.rs"),
             boost::test_tools::per_element());
  BOOST_TEST(
      contains(all_lines(log),
               "smart: warning: the granted scope differs from the requested one; not granted: "
               "system/Observation.rs system/MedicationRequest.rs system/MedicationStatement.rs "
               "system/MedicationAdministration.rs system/Procedure.rs system/Medication.rs; granted in "
               "addition: -\n"));
}

// RELIABILITY A4: which scopes let the client read and search a type in full.
BOOST_AUTO_TEST_CASE(scopes_that_grant_reading_a_type) {
  auto grants = [](std::string_view scopes, std::string_view type) {
    return cf::transport::scopes_grant_read(scopes_of(scopes), type);
  };
  for (const char* s : {"system/Observation.rs", "system/Observation.cruds", "system/Observation.read",
                        "system/Observation.*", "system/*.rs", "system/*.read", "system/*.*",
                        "system/Patient.rs system/Observation.rs"})
    BOOST_TEST(grants(s, "Observation"), s);
  for (const char* s : {"system/Patient.rs", "system/Observation.r", "system/Observation.s",
                        "system/Observation.write", "system/Observation.cud", "patient/Observation.rs",
                        "user/*.rs", "system/Observation.rs?category=laboratory", "system/Observations.rs",
                        "system/Observation.sr", "system/Observation", ""})
    BOOST_TEST(!grants(s, "Observation"), s);
}

BOOST_AUTO_TEST_CASE(a_narrower_grant_makes_the_ungranted_types_incomplete) {
  TokenServer server(keys().ec_pub, "ES384", {"--grant-scope", "system/Patient.rs system/Condition.read"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  auto missing = auth->types_not_granted({"Patient", "Condition", "Observation", "Procedure"});
  BOOST_REQUIRE(missing.ok());
  BOOST_TEST(*missing == scopes_of("Observation Procedure"), boost::test_tools::per_element());

  // Through a REST pull (population mode): every search answers an empty Bundle, yet the ungranted types are
  // incomplete, so no criterion resting on them can be "not met".
  cf::source::RestOptions ro;
  ro.base_url = server.base();
  ro.smart = auth;
  cf::source::RestPlan plan;
  plan.population = true;
  cf::source::RestSource rest(ro, plan, http_client());
  cf::IssueLog issues;
  BOOST_REQUIRE(rest.read([](cf::source::Page&&) {}, issues).ok());
  const auto& incomplete = rest.completeness().run_types;
  BOOST_TEST(
      std::vector<std::string>(incomplete.begin(), incomplete.end()) ==
          scopes_of("Medication MedicationAdministration MedicationRequest MedicationStatement Observation "
                    "Procedure"),
      boost::test_tools::per_element());
  std::size_t scope_issues = 0;
  for (const auto& i : issues.issues()) scope_issues += i.kind == "scope-not-granted";
  BOOST_TEST(scope_issues == 6u);
}

// The same through a Bulk export: the export itself succeeds (its manifest lists no files), and the types the
// grant does not cover are incomplete before any file is read.
BOOST_AUTO_TEST_CASE(a_narrower_grant_makes_a_bulk_exports_ungranted_types_incomplete) {
  TokenServer server(keys().ec_pub, "ES384", {"--grant-scope", "system/Patient.rs system/Condition.read"});
  LogLines log;
  auto auth = expect_auth(SmartAuth::create(options_for(server, keys().ec, log), http_client()));
  cf::source::BulkOptions bo;
  bo.base_url = server.base();
  bo.smart = auth;
  bo.types = {"Patient", "Condition", "Observation", "Procedure"};
  bo.poll_interval = bo.min_poll_interval = std::chrono::milliseconds(10);
  cf::source::BulkSource bulk(bo, http_client());
  cf::IssueLog issues;
  const auto st = bulk.read([](cf::source::Page&&) {}, issues);
  BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? std::string() : st.error().what()));
  const auto& incomplete = bulk.completeness().run_types;
  BOOST_TEST(
      std::vector<std::string>(incomplete.begin(), incomplete.end()) == scopes_of("Observation Procedure"),
      boost::test_tools::per_element());
  std::size_t scope_issues = 0;
  for (const auto& i : issues.issues()) scope_issues += i.kind == "scope-not-granted";
  BOOST_TEST(scope_issues == 2u);
}

BOOST_AUTO_TEST_CASE(custom_scopes_are_sent_as_configured) {
  TokenServer server(keys().ec_pub, "ES384");
  LogLines log;
  SmartOptions o = options_for(server, keys().ec, log);
  o.scopes = "  system/Patient.rs   system/Observation.rs ";
  auto auth = expect_auth(SmartAuth::create(o, http_client()));
  expect_token(auth->authorization());
  BOOST_REQUIRE(server.token_requests().size() == 1u);
  BOOST_TEST(server.token_requests()[0].scope == "system/Patient.rs system/Observation.rs");
  BOOST_TEST(auth->granted_scopes() == scopes_of("system/Patient.rs system/Observation.rs"),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_algorithm_the_server_does_not_list_is_refused) {  // RELIABILITY A5
  TokenServer server(keys().ec_pub, "ES384", {"--algs", "RS384"});
  LogLines log;
  BOOST_TEST(contains(expect_failure(SmartAuth::create(options_for(server, keys().ec, log), http_client())),
                      "the server's token_endpoint_auth_signing_alg_values_supported does not list ES384 (it "
                      "lists: RS384); register a key for one of those and set smart_alg"));
  BOOST_TEST(server.counts().token == 0);
}

BOOST_AUTO_TEST_CASE(connect_failures_are_retried_with_fresh_assertions_then_reported) {
  const int port = cf::testing::unused_port();
  LogLines log;
  SmartOptions o = offline_options(keys().ec);
  o.fhir_base_url = "http://127.0.0.1:" + std::to_string(port) + "/fhir";
  o.token_endpoint = "http://127.0.0.1:" + std::to_string(port) + "/token";
  o.log = log.sink();
  auto auth = expect_auth(SmartAuth::create(o, http_client()));
  const auto start = std::chrono::steady_clock::now();
  const std::string error = expect_failure(auth->authorization());
  BOOST_TEST(contains(error, "SMART token endpoint " + o.token_endpoint +
                                 ": cannot reach the token endpoint: "
                                 "cannot connect: Connection refused (3 attempts)"),
             error);
  BOOST_TEST(auth->counters().token_requests == 3u);
  BOOST_TEST(cf::transport::test::seconds_since(start) < 3.0);
  const auto lines = log.lines();
  BOOST_TEST(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
               return contains(l, "smart: token request could not connect");
             }) == 2);
}

// RELIABILITY T6 and A-1: an authorization server that answers 500 or 503 while it restarts gets the token
// request again, each time with a new assertion (a fresh jti), up to 3 attempts; then the error is reported.
BOOST_AUTO_TEST_CASE(transient_token_errors_are_retried_with_fresh_assertions) {
  {
    TokenServer server(keys().rsa_pub, "RS384", {"--fail-first", "2"});
    LogLines log;
    auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
    expect_token(auth->authorization());
    const auto requests = server.token_requests();
    BOOST_REQUIRE(requests.size() == 3u);
    std::set<std::string> jtis;
    for (const auto& r : requests) {
      BOOST_TEST(r.violations.empty());
      jtis.insert(r.jti);
    }
    BOOST_TEST(jtis.size() == 3u);
    const auto lines = log.lines();
    BOOST_TEST(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
                 return contains(l, "smart: token request answered HTTP 500");
               }) == 2);
  }
  {
    TokenServer server(keys().rsa_pub, "RS384", {"--fail-first", "9", "--fail-status", "503"});
    LogLines log;
    auto auth = expect_auth(SmartAuth::create(options_for(server, keys().rsa, log), http_client()));
    const std::string error = expect_failure(auth->authorization());
    BOOST_TEST(server.token_requests().size() == 3u);
    BOOST_TEST(contains(error, "503"), error);
  }
}

BOOST_AUTO_TEST_CASE(discovery_failures_are_clear) {
  TokenServer server(keys().ec_pub, "ES384");
  LogLines log;
  SmartOptions o = options_for(server, keys().ec, log);
  o.fhir_base_url = server.origin() + "/elsewhere/";
  BOOST_TEST(
      expect_failure(SmartAuth::create(o, http_client())) ==
      "GET " + server.origin() +
          "/elsewhere/.well-known/smart-configuration: the SMART configuration answered HTTP 404; give the "
          "token endpoint explicitly if the server does not publish one");
}

BOOST_AUTO_TEST_CASE(key_file_problems_are_clear) {
  const auto client = http_client();  // never used: the key is checked before any request
  auto error_for = [&client](const std::string& file, const std::string& alg = "") {
    SmartOptions o = offline_options(file);
    o.algorithm = alg;
    return expect_failure(SmartAuth::create(o, client));
  };
  const std::string missing = keys().dir + "/missing.pem";
  BOOST_TEST(error_for(missing) ==
             "private key file " + missing + ": cannot open it: No such file or directory");
  BOOST_TEST(error_for(keys().dir) == "private key file " + keys().dir + ": is not a regular file");
  BOOST_TEST(error_for(keys().rsa_pub) ==
             "private key file " + keys().rsa_pub + ": holds a public key, not a private key");
  BOOST_TEST(error_for(keys().ec_pub) ==
             "private key file " + keys().ec_pub + ": holds a public key, not a private key");
  BOOST_TEST(error_for(keys().certificate) ==
             "private key file " + keys().certificate + ": holds a certificate, not a private key");
  BOOST_TEST(error_for(keys().garbage) ==
             "private key file " + keys().garbage +
                 ": is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)");
  BOOST_TEST(error_for(keys().ec_encrypted) ==
             "private key file " + keys().ec_encrypted +
                 ": is encrypted; give an unencrypted PEM key (PKCS#8) and protect it with file permissions");
  BOOST_TEST(error_for(keys().ec_p256) ==
             "private key file " + keys().ec_p256 +
                 ": holds an EC key on curve prime256v1; ES384 needs P-384 (secp384r1)");
  BOOST_TEST(error_for(keys().ec, "RS384") ==
             "private key file " + keys().ec + ": holds an EC P-384 key, which cannot sign RS384");
  BOOST_TEST(error_for(keys().rsa, "ES384") ==
             "private key file " + keys().rsa + ": holds an RSA key, which cannot sign ES384");
  BOOST_TEST(error_for(keys().rsa, "HS256") ==
             "SMART client assertion: algorithm must be RS384 or ES384, got 'HS256'");
  for (const auto& f : {keys().rsa, keys().ec})
    for (const auto& line : pem_body_lines(f))
      BOOST_TEST(!contains(error_for(f, f == keys().rsa ? "ES384" : "RS384"), line));

  // An unreadable file (as root every file is readable, so only checked for other users).
  const std::string locked = keys().dir + "/locked.pem";
  std::filesystem::copy_file(keys().ec, locked, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(locked, std::filesystem::perms::none);
  if (geteuid() != 0)
    BOOST_TEST(error_for(locked) == "private key file " + locked + ": cannot open it: Permission denied");
  else
    BOOST_TEST_MESSAGE("running as root: the unreadable-file case is skipped");
  std::filesystem::remove(locked);
}

// RELIABILITY H2: a key others may read is refused, not warned about; group read only for the run's own
// group (Kubernetes mounts a Secret 0440 for a pod's fsGroup).
BOOST_AUTO_TEST_CASE(a_key_file_others_can_read_is_refused) {
  using std::filesystem::perms;
  const std::string shared = keys().dir + "/shared.pem";
  std::filesystem::copy_file(keys().ec, shared, std::filesystem::copy_options::overwrite_existing);
  auto refusal = [&](perms mode) {
    std::filesystem::permissions(shared, mode);
    auto r = SmartAuth::create(offline_options(shared), http_client());
    return r.ok() ? std::string() : r.error().what();
  };
  const std::string refused =
      "private key file " + shared +
      ": can be read or changed by other users: chmod 600 it (440 if the group is the run's own)";
  BOOST_TEST(refusal(perms::owner_read | perms::owner_write | perms::others_read) == refused);
  BOOST_TEST(refusal(perms::owner_read | perms::owner_write | perms::group_write) == refused);
  if (geteuid() == 0) {  // only root may give a file to a group it is not in
    BOOST_REQUIRE_EQUAL(::chown(shared.c_str(), static_cast<uid_t>(-1), getegid() + 1), 0);
    BOOST_TEST(refusal(perms::owner_read | perms::group_read) == refused);
  }
  BOOST_REQUIRE_EQUAL(::chown(shared.c_str(), static_cast<uid_t>(-1), getegid()), 0);  // the run's own group
  BOOST_TEST(refusal(perms::owner_read | perms::group_read).empty());
  BOOST_TEST(refusal(perms::owner_read | perms::owner_write).empty());
  std::filesystem::remove(shared);
}

BOOST_AUTO_TEST_CASE(bad_options_are_refused) {
  SmartOptions o = offline_options(keys().ec);
  o.key_id.clear();
  BOOST_TEST(
      expect_failure(SmartAuth::create(o, http_client())) ==
      "SMART Backend Services: the key id (kid) is empty or has control or non-ASCII characters; SMART "
      "requires it");
  o = offline_options(keys().ec);
  o.scopes = "system/Patient.rs system/\"x\"";
  BOOST_TEST(expect_failure(SmartAuth::create(o, http_client())) ==
             "SMART Backend Services: the scope 'system/\"x\"' has characters OAuth does not allow");
  o = offline_options(keys().ec);
  o.scopes = "   ";
  BOOST_TEST(expect_failure(SmartAuth::create(o, http_client())) ==
             "SMART Backend Services: no scopes to request");
  o = offline_options(keys().ec);
  o.client_id = "bad\nid";
  BOOST_TEST(
      contains(expect_failure(SmartAuth::create(o, http_client())), "the client id is empty or has control"));
  o = offline_options(keys().ec);
  BOOST_TEST(expect_failure(SmartAuth::create(o, nullptr)) == "SMART Backend Services: no HTTP client given");
}

BOOST_AUTO_TEST_SUITE_END()
