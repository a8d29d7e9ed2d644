// TLS verification and TLS-level truncation (RELIABILITY.md T1, T2, T5, T8, L1, L3, L6, L10). Certificates
// come from a throwaway CA made with the openssl CLI for this test run.
#include <boost/test/unit_test.hpp>

#include "fault-server/fault_server.hpp"
#include "fault-server/test_pki.hpp"
#include "test_support.hpp"

using namespace cf::transport;
using namespace cf::transport::test;
using cf::testing::FaultServer;
using cf::testing::FaultServerOptions;
using cf::testing::TestPki;

namespace {

const TestPki& pki() {
  static const TestPki instance;  // made once per test run, removed at exit
  return instance;
}

FaultServerOptions tls_with(const cf::testing::CertificateFiles& cert) {
  return {cert.cert, cert.key};
}

ClientOptions trusting_test_ca() {
  ClientOptions o = fast_options();
  o.ca_file = pki().ca_file;
  o.retry.max_attempts = 2;
  return o;
}

std::string https(const FaultServer& server, std::string_view host, std::string_view path) {
  return "https://" + std::string(host) + ":" + std::to_string(server.port()) + std::string(path);
}

// A refused handshake must happen before any HTTP byte is written, and must not be retried.
void expect_refused_before_http(const FaultServer& server, HttpClient& client) {
  BOOST_TEST(server.requests().empty());
  BOOST_TEST(server.stats("127.0.0.1").tcp_connections == 1);
  BOOST_TEST(client.counters().retries == 0u);
  BOOST_TEST(client.counters().requests == 0u);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(client_tls)

BOOST_AUTO_TEST_CASE(accepted_with_the_configured_ca_by_ip_and_by_name) {
  FaultServer server(tls_with(pki().server));
  auto client = make_client(trusting_test_ca());
  const Response by_ip = expect_response(get(*client, https(server, "127.0.0.1", "/ok")));
  BOOST_TEST(by_ip.status == 200);
  BOOST_TEST(by_ip.body == "ok");
  const Response by_name = expect_response(get(*client, https(server, "localhost", "/ok")));
  BOOST_TEST(by_name.status == 200);
  BOOST_TEST(expect_response(get(*client, https(server, "127.0.0.1", "/gzip"))).body.size() == 29000u);
  BOOST_TEST(client->counters().connections_opened == 2u);  // one per origin, reused for /gzip
  const auto requests = server.requests();
  BOOST_REQUIRE(requests.size() == 3u);
  BOOST_TEST(requests[0].tls_server_name == "");  // no SNI for IP literals (RFC 6066)
  BOOST_TEST(requests[1].tls_server_name == "localhost");
}

BOOST_AUTO_TEST_CASE(refused_against_the_system_store) {
  FaultServer server(tls_with(pki().server));
  ClientOptions o = fast_options();  // no ca_file: the test CA is not in the system store
  auto client = make_client(o);
  BOOST_TEST(expect_error(get(*client, https(server, "127.0.0.1", "/ok"))) ==
             "GET " + https(server, "127.0.0.1", "/ok") +
                 ": TLS certificate verification failed: unable to get local issuer certificate");
  expect_refused_before_http(server, *client);
}

BOOST_AUTO_TEST_CASE(refused_for_a_wrong_host_name) {
  FaultServer server(tls_with(pki().wrong_host));
  auto client = make_client(trusting_test_ca());
  BOOST_TEST(expect_error(get(*client, https(server, "localhost", "/ok"))) ==
             "GET " + https(server, "localhost", "/ok") +
                 ": TLS certificate verification failed: hostname mismatch");
  expect_refused_before_http(server, *client);
  BOOST_TEST(expect_error(get(*client, https(server, "127.0.0.1", "/ok"))) ==
             "GET " + https(server, "127.0.0.1", "/ok") +
                 ": TLS certificate verification failed: IP address mismatch");
  BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(refused_for_an_expired_certificate) {
  FaultServer server(tls_with(pki().expired));
  auto client = make_client(trusting_test_ca());
  BOOST_TEST(expect_error(get(*client, https(server, "127.0.0.1", "/ok"))) ==
             "GET " + https(server, "127.0.0.1", "/ok") +
                 ": TLS certificate verification failed: certificate has expired");
  expect_refused_before_http(server, *client);
}

BOOST_AUTO_TEST_CASE(tls_stream_cut_before_the_message_end_is_an_error) {
  FaultServer server(tls_with(pki().server));
  auto client = make_client(trusting_test_ca());
  const std::string error = expect_error(get(*client, https(server, "127.0.0.1", "/cut-no-close-notify")));
  BOOST_TEST(error ==
             "GET " + https(server, "127.0.0.1", "/cut-no-close-notify") +
                 ": TLS stream truncated (closed without close_notify) while reading the response body "
                 "before the response was complete (gave up after 2 attempts)");
  BOOST_TEST(server.count("/cut-no-close-notify") == 2u);
}

BOOST_AUTO_TEST_CASE(missing_close_notify_after_a_complete_message_is_tolerated) {
  FaultServer server(tls_with(pki().server));
  auto client = make_client(trusting_test_ca());
  const Response r = expect_response(get(*client, https(server, "127.0.0.1", "/ok-close-no-notify")));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "ok");
  BOOST_TEST(r.attempts == 1);
}

BOOST_AUTO_TEST_CASE(close_delimited_body_needs_close_notify) {
  FaultServer server(tls_with(pki().server));
  auto o = trusting_test_ca();
  o.allow_close_delimited_body = true;
  auto client = make_client(o);
  BOOST_TEST(expect_response(get(*client, https(server, "127.0.0.1", "/close-delimited"))).body ==
             "body until close");
  const std::string error =
      expect_error(get(*client, https(server, "127.0.0.1", "/close-delimited-no-notify")));
  BOOST_TEST(contains(error, "TLS stream truncated (closed without close_notify)"), error);
}

BOOST_AUTO_TEST_CASE(handshake_timeout) {
  FaultServer server(tls_with(pki().server));
  auto o = trusting_test_ca();
  o.handshake_timeout = 300ms;
  o.retry.max_attempts = 1;
  auto client = make_client(o);
  const auto start = std::chrono::steady_clock::now();
  const std::string url = "https://127.0.0.1:" + std::to_string(server.silent_port()) + "/ok";
  BOOST_TEST(expect_error(get(*client, url)) ==
             "GET " + url + ": TLS handshake timed out after 300 ms (retries disabled)");
  BOOST_TEST(seconds_since(start) >= 0.29);
  BOOST_TEST(seconds_since(start) < 1.5);
}

BOOST_AUTO_TEST_CASE(unreadable_ca_file_is_refused_at_creation) {
  ClientOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  auto client = HttpClient::create(o);
  BOOST_REQUIRE(!client.ok());
  BOOST_TEST(contains(client.error().what(), "cannot load CA file '/nonexistent/ca.pem'"),
             client.error().what());
}

BOOST_AUTO_TEST_CASE(insecure_skip_verify_exists_only_in_debug_builds) {
  ClientOptions o = fast_options();
  o.insecure_skip_verify = true;
  auto client = HttpClient::create(o);
#ifdef NDEBUG
  BOOST_REQUIRE(!client.ok());
  BOOST_TEST(contains(client.error().what(), "insecure_skip_verify is refused in release builds"));
#else
  BOOST_REQUIRE(client.ok());
  FaultServer server(tls_with(pki().expired));
  BOOST_TEST(expect_response(get(**client, https(server, "127.0.0.1", "/ok"))).status == 200);
#endif
}

BOOST_AUTO_TEST_SUITE_END()
