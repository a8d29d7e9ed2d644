// Retries, Retry-After, budgets, redirects and what may appear in errors and logs (RELIABILITY.md T6, T7,
// T11, H). Every test starts its own fault server; attempt counts come from the server's request record.
#include <boost/test/unit_test.hpp>

#include "fault-server/fault_server.hpp"
#include "test_support.hpp"

using namespace cf::transport;
using namespace cf::transport::test;
using cf::testing::FaultServer;

namespace {
struct Server {
  FaultServer server;
  LogLines log;
  ClientOptions options() {
    ClientOptions o = fast_options();
    o.log = log.sink();
    return o;
  }
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(client_retries, Server)

BOOST_AUTO_TEST_CASE(plain_get_sends_expected_headers) {
  auto client = make_client(options());
  const Response r = expect_response(get(*client, server.url("/ok")));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "ok");
  BOOST_TEST(r.attempts == 1);
  BOOST_TEST(r.header("Content-Type") == "text/plain");
  const auto requests = server.requests();
  BOOST_REQUIRE(requests.size() == 1u);
  BOOST_TEST(requests[0].method == "GET");
  BOOST_TEST(requests[0].target == "/ok");
  BOOST_TEST(requests[0].header("host") == "127.0.0.1:" + std::to_string(server.port()));
  BOOST_TEST(requests[0].header("user-agent") == "cohort-finder");
  BOOST_TEST(requests[0].header("accept-encoding") == "gzip, deflate");
  BOOST_TEST(log.retries().empty());
  BOOST_TEST(client->counters().requests == 1u);
  BOOST_TEST(client->counters().retries == 0u);
  BOOST_TEST(client->counters().connections_opened == 1u);
  BOOST_TEST(client->counters().bytes_received > 2u);
}

// RELIABILITY T4. 0.0.0.0 reaches the fault server on 127.0.0.1 (Linux connects the unspecified address to
// this machine), so a client without the check would send the request there rather than off the machine.
BOOST_AUTO_TEST_CASE(plain_http_is_sent_only_to_this_machine) {
  auto client = make_client(options());
  const std::string elsewhere = "http://0.0.0.0:" + std::to_string(server.port()) + "/ok";
  BOOST_TEST(contains(expect_error(get(*client, elsewhere)), "refused plain http"));
  BOOST_TEST(server.requests().empty());
  BOOST_TEST(client->counters().connections_opened == 0u);
  BOOST_TEST(expect_response(get(*client, server.url("/ok"))).status == 200);  // 127.0.0.1
}

// RELIABILITY H1: a request that may not reach local addresses is refused after name resolution, before any
// connection, whatever the name ("localhost" here; a DNS name pointing at 127.0.0.1 alike), and a pooled
// connection to a local peer is not reused for it.
BOOST_AUTO_TEST_CASE(resolved_local_addresses_are_refused_when_asked) {
  auto client = make_client(options());
  BOOST_TEST(expect_response(get(*client, server.url("/ok"))).status == 200);  // pooled, peer 127.0.0.1
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    Request r;
    r.url = url("http://" + host + ":" + std::to_string(server.port()) + "/ok");
    r.local_addresses_allowed = false;
    const std::string error = expect_error(client->send(r));
    BOOST_TEST(contains(error, "resolves to a loopback, link-local or unspecified address: not contacted"),
               error);
  }
  BOOST_TEST(server.requests().size() == 1u);  // only the first, allowed request
  BOOST_TEST(client->counters().connections_opened == 1u);
}

BOOST_AUTO_TEST_CASE(retry_after_seconds_is_honoured) {
  auto o = options();
  o.retry.max_retry_after = 5s;
  auto client = make_client(o);
  const auto start = std::chrono::steady_clock::now();
  const Response r = expect_response(get(*client, server.url("/retry-after-seconds/1")));
  const double elapsed = seconds_since(start);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "ok after retry-after");
  BOOST_TEST(r.attempts == 2);
  BOOST_TEST(server.count("/retry-after-seconds/1") == 2u);
  BOOST_TEST(elapsed >= 0.95);
  BOOST_TEST(elapsed < 3.0);
  const auto lines = log.retries();
  BOOST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0] == "retry GET " + server.url("/retry-after-seconds/1") +
                             " status=429 attempt=1/5 delay=1000ms (Retry-After)");
}

BOOST_AUTO_TEST_CASE(absurd_retry_after_is_clamped_and_logged) {
  auto o = options();
  o.retry.max_retry_after = 50ms;
  auto client = make_client(o);
  const auto start = std::chrono::steady_clock::now();
  const Response r = expect_response(get(*client, server.url("/retry-after-seconds/2?ra=1766170000")));
  BOOST_TEST(seconds_since(start) < 1.0);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.attempts == 3);
  BOOST_TEST(server.count("/retry-after-seconds/2?ra=1766170000") == 3u);
  const auto lines = log.retries();
  BOOST_REQUIRE(lines.size() == 2u);
  for (const auto& line : lines)
    BOOST_TEST(contains(line, "delay=50ms (Retry-After 1766170000000ms clamped)"), line);
  BOOST_TEST(contains(lines[1], "attempt=2/5"));
}

BOOST_AUTO_TEST_CASE(retry_after_http_date_is_honoured) {
  auto client = make_client(options());
  const auto start = std::chrono::steady_clock::now();
  const Response r = expect_response(get(*client, server.url("/retry-after-date/1")));
  const double elapsed = seconds_since(start);
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.attempts == 2);
  BOOST_TEST(server.count("/retry-after-date/1") == 2u);
  const auto lines = log.retries();
  BOOST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(contains(lines[0], "(Retry-After"), lines[0]);
  // The server sends now + 1 s with whole-second resolution: the wait asked for is in (0, 1000] ms, and one
  // under the 1 s minimum is raised to it (RELIABILITY T7).
  const auto delay = logged_delay_ms(lines[0]);
  BOOST_REQUIRE(delay.has_value());
  BOOST_TEST(*delay == 1000);
  BOOST_TEST(elapsed >= static_cast<double>(*delay) / 1000.0);
}

BOOST_AUTO_TEST_CASE(garbage_retry_after_falls_back_to_backoff) {
  for (const char* value : {"-5", "1.5", "abc", ""}) {
    BOOST_TEST_CONTEXT("Retry-After: '" << value << "'") {
      LogLines lines_for_value;
      auto o = fast_options();
      o.log = lines_for_value.sink();
      auto client = make_client(o);
      const std::string target = std::string("/garbage-retry-after/1?ra=") + value;
      const Response r = expect_response(get(*client, server.url(target)));
      BOOST_TEST(r.status == 200);
      BOOST_TEST(r.attempts == 2);
      BOOST_TEST(server.count(target) == 2u);
      const auto lines = lines_for_value.retries();
      BOOST_REQUIRE(lines.size() == 1u);
      BOOST_TEST(contains(lines[0], "(backoff)"), lines[0]);
      BOOST_TEST(*logged_delay_ms(lines[0]) <= 1);  // base_delay 1 ms, first retry
    }
  }
}

BOOST_AUTO_TEST_CASE(contradictory_retry_after_headers_fall_back_to_backoff) {
  auto client = make_client(options());
  const Response r = expect_response(get(*client, server.url("/two-retry-after/1")));
  BOOST_TEST(r.attempts == 2);
  BOOST_REQUIRE(log.retries().size() == 1u);
  BOOST_TEST(contains(log.retries()[0], "(backoff)"));
}

BOOST_AUTO_TEST_CASE(service_unavailable_twice_then_success) {
  auto client = make_client(options());
  const Response r = expect_response(get(*client, server.url("/503/2")));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "ok after failures");
  BOOST_TEST(r.attempts == 3);
  BOOST_TEST(server.count("/503/2") == 3u);
  BOOST_TEST(client->counters().retries == 2u);
  BOOST_TEST(client->counters().requests == 3u);
  BOOST_TEST(client->counters().connections_opened == 1u);  // keep-alive across retries
  BOOST_TEST(log.retries().size() == 2u);
}

BOOST_AUTO_TEST_CASE(persistent_503_stops_at_max_attempts) {
  auto o = options();
  o.retry.max_attempts = 4;
  auto client = make_client(o);
  const Response r = expect_response(get(*client, server.url("/503/10")));
  BOOST_TEST(r.status == 503);
  BOOST_TEST(r.attempts == 4);
  BOOST_TEST(server.count("/503/10") == 4u);
  BOOST_TEST(log.retries().size() == 3u);
}

BOOST_AUTO_TEST_CASE(other_retryable_statuses) {
  for (int status : {408, 429, 500, 502, 504}) {
    BOOST_TEST_CONTEXT(status) {
      auto client = make_client(options());
      const std::string target = "/fail/" + std::to_string(status) + "/1";
      const Response r = expect_response(get(*client, server.url(target)));
      BOOST_TEST(r.status == 200);
      BOOST_TEST(r.attempts == 2);
      BOOST_TEST(server.count(target) == 2u);
    }
  }
}

BOOST_AUTO_TEST_CASE(permanent_statuses_are_not_retried) {
  for (int status : {400, 401, 403, 404, 410, 422, 501}) {
    BOOST_TEST_CONTEXT(status) {
      auto client = make_client(options());
      const std::string target = "/fail/" + std::to_string(status) + "/1";
      const Response r = expect_response(get(*client, server.url(target)));
      BOOST_TEST(r.status == status);
      BOOST_TEST(r.attempts == 1);
      BOOST_TEST(server.count(target) == 1u);
    }
  }
  BOOST_TEST(log.retries().empty());
}

BOOST_AUTO_TEST_CASE(post_is_never_retried) {
  auto client = make_client(options());
  const Response r = expect_response(send(*client, "POST", server.url("/503/2")));
  BOOST_TEST(r.status == 503);
  BOOST_TEST(r.attempts == 1);
  BOOST_TEST(server.count("/503/2") == 1u);
  BOOST_TEST(server.requests()[0].method == "POST");
}

BOOST_AUTO_TEST_CASE(run_budget_is_shared_by_all_requests) {
  auto o = options();
  o.retry.max_attempts = 5;
  o.retry.run_budget = 3;
  auto client = make_client(o);
  const Response first = expect_response(get(*client, server.url("/503/10?a")));
  BOOST_TEST(first.status == 503);
  BOOST_TEST(first.attempts == 4);  // 1 + the 3 retries of the budget
  const Response second = expect_response(get(*client, server.url("/503/10?b")));
  BOOST_TEST(second.status == 503);
  BOOST_TEST(second.attempts == 1);  // budget spent: the failure is returned at once
  BOOST_TEST(server.count("/503/10?a") == 4u);
  BOOST_TEST(server.count("/503/10?b") == 1u);
  BOOST_TEST(client->counters().retries == 3u);
}

BOOST_AUTO_TEST_CASE(redirects_are_returned_not_followed) {
  auto client = make_client(options());
  const Response r = expect_response(get(*client, server.url("/redirect")));
  BOOST_TEST(r.status == 302);
  BOOST_TEST(r.header("location") == server.url("/ok"));
  BOOST_TEST(server.count("/ok") == 0u);
}

BOOST_AUTO_TEST_CASE(connection_refused_is_retried_then_reported) {
  auto o = options();
  o.retry.max_attempts = 3;
  auto client = make_client(o);
  const int port = cf::testing::unused_port();
  const std::string error =
      expect_error(get(*client, "http://127.0.0.1:" + std::to_string(port) + "/ok?x=1"));
  BOOST_TEST(error == "GET http://127.0.0.1:" + std::to_string(port) +
                          "/ok?x=*: cannot connect: Connection refused (gave up after 3 attempts)");
  BOOST_TEST(log.retries().size() == 2u);
  BOOST_TEST(client->counters().retries == 2u);
  BOOST_TEST(client->counters().connections_opened == 0u);
}

BOOST_AUTO_TEST_CASE(credentials_and_query_values_stay_out_of_errors_and_logs) {
  auto o = options();
  o.retry.max_attempts = 2;
  auto client = make_client(o);
  const HeaderList auth = {{"Authorization", "Bearer SECRET-TOKEN"}};
  const int port = cf::testing::unused_port();
  const std::string error = expect_error(
      get(*client, "http://127.0.0.1:" + std::to_string(port) + "/Patient?identifier=CANARY-123", auth));
  BOOST_TEST(!contains(error, "SECRET"));
  BOOST_TEST(!contains(error, "CANARY"));
  BOOST_TEST(contains(error, "/Patient?identifier=*"));
  expect_response(get(*client, server.url("/503/1?identifier=CANARY-456"), auth));
  BOOST_REQUIRE(log.retries().size() == 2u);
  for (const auto& line : log.lines()) {
    BOOST_TEST(!contains(line, "SECRET"), line);
    BOOST_TEST(!contains(line, "CANARY"), line);
    BOOST_TEST(!contains(line, "?"), line);
  }
  // The header itself did go to the server it was meant for.
  BOOST_TEST(server.requests().at(0).header("authorization") == "Bearer SECRET-TOKEN");
}

BOOST_AUTO_TEST_CASE(header_injection_is_refused_before_sending) {
  auto client = make_client(options());
  const std::string error = expect_error(get(*client, server.url("/ok"), {{"X-Test", "a\r\nX-Injected: 1"}}));
  BOOST_TEST(error == "GET " + server.url("/ok") + ": request header 'X-Test' contains CR, LF or NUL");
  const std::string managed = expect_error(get(*client, server.url("/ok"), {{"Host", "evil.example"}}));
  BOOST_TEST(contains(managed, "request header 'Host' is set by the client"));
  BOOST_TEST(server.requests().empty());
}

BOOST_AUTO_TEST_CASE(invalid_options_are_refused) {
  ClientOptions o;
  o.retry.max_attempts = 0;
  auto client = HttpClient::create(o);
  BOOST_REQUIRE(!client.ok());
  BOOST_TEST(client.error().what() == "http client options: retry.max_attempts must be at least 1");
  ClientOptions p;
  p.max_connections = 0;
  BOOST_TEST(!HttpClient::create(p).ok());
}

BOOST_AUTO_TEST_SUITE_END()
