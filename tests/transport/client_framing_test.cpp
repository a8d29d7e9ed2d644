// Truncation, limits, timeouts and keep-alive reuse (RELIABILITY.md T5, T8, T9, N7, N8, N14, F1, F6, F7).
#include <boost/test/unit_test.hpp>
#include <set>
#include <thread>

#include "fault-server/fault_server.hpp"
#include "test_support.hpp"

using namespace cf::transport;
using namespace cf::transport::test;
using cf::testing::FaultServer;

namespace {
struct Server {
  FaultServer server;
  ClientOptions options() {
    ClientOptions o = fast_options();
    o.retry.max_attempts = 2;
    return o;
  }
};
}  // namespace

BOOST_FIXTURE_TEST_SUITE(client_framing, Server)

BOOST_AUTO_TEST_CASE(short_content_length_body_is_an_error_and_retried) {
  auto client = make_client(options());
  const std::string error = expect_error(get(*client, server.url("/short-body")));
  BOOST_TEST(error == "GET " + server.url("/short-body") +
                          ": connection closed before the response was complete (body shorter than its "
                          "Content-Length or chunked stream cut off) (gave up after 2 attempts)");
  BOOST_TEST(server.count("/short-body") == 2u);
}

BOOST_AUTO_TEST_CASE(cut_chunked_stream_is_an_error) {
  auto client = make_client(options());
  const std::string error = expect_error(get(*client, server.url("/chunked-cut")));
  BOOST_TEST(contains(error, "connection closed before the response was complete"), error);
  BOOST_TEST(contains(error, "/chunked-cut"));
  BOOST_TEST(server.count("/chunked-cut") == 2u);
}

BOOST_AUTO_TEST_CASE(reset_mid_body_is_an_error) {
  auto client = make_client(options());
  const std::string error = expect_error(get(*client, server.url("/reset-mid-body")));
  BOOST_TEST(error == "GET " + server.url("/reset-mid-body") +
                          ": connection reset by the server while reading the response body (gave up after 2 "
                          "attempts)");
  BOOST_TEST(server.count("/reset-mid-body") == 2u);
}

BOOST_AUTO_TEST_CASE(close_delimited_body_is_refused_by_default) {
  auto client = make_client(options());
  const std::string error = expect_error(get(*client, server.url("/close-delimited")));
  BOOST_TEST(contains(error, "neither Content-Length nor chunked encoding"), error);
  BOOST_TEST(server.count("/close-delimited") == 1u);  // not retried: it would fail the same way
}

BOOST_AUTO_TEST_CASE(close_delimited_body_is_accepted_when_allowed) {
  auto o = options();
  o.allow_close_delimited_body = true;
  auto client = make_client(o);
  const Response r = expect_response(get(*client, server.url("/close-delimited")));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body == "body until close");
}

BOOST_AUTO_TEST_CASE(headers_then_silence_hits_the_read_timeout) {
  auto o = options();
  o.read_timeout = 300ms;
  auto client = make_client(o);
  const auto start = std::chrono::steady_clock::now();
  const std::string error = expect_error(get(*client, server.url("/slow")));
  const double elapsed = seconds_since(start);
  BOOST_TEST(error ==
             "GET " + server.url("/slow") +
                 ": no data for 300 ms while reading the response body (read timeout) (gave up after 2 "
                 "attempts)");
  BOOST_TEST(server.count("/slow") == 2u);
  BOOST_TEST(elapsed >= 0.6);
  BOOST_TEST(elapsed < 2.0);
}

BOOST_AUTO_TEST_CASE(no_response_at_all_hits_the_read_timeout) {
  auto o = options();
  o.read_timeout = 300ms;
  o.retry.max_attempts = 1;
  auto client = make_client(o);
  const std::string error = expect_error(get(*client, server.url("/silent")));
  BOOST_TEST(contains(error, "no data for 300 ms while waiting for the response header (read timeout)"),
             error);
  const std::string accept_only =
      expect_error(get(*client, "http://127.0.0.1:" + std::to_string(server.silent_port()) + "/x"));
  BOOST_TEST(contains(accept_only, "no data for 300 ms while waiting for the response header"), accept_only);
}

BOOST_AUTO_TEST_CASE(unanswered_connect_hits_the_connect_timeout) {
  cf::testing::UnansweredPort blackhole;
  auto o = options();
  o.connect_timeout = 300ms;
  o.retry.max_attempts = 1;
  auto client = make_client(o);
  const std::string url = "http://127.0.0.1:" + std::to_string(blackhole.port()) + "/ok";
  const auto start = std::chrono::steady_clock::now();
  BOOST_TEST(expect_error(get(*client, url)) ==
             "GET " + url + ": connect timed out after 300 ms (retries disabled)");
  BOOST_TEST(seconds_since(start) >= 0.29);
  BOOST_TEST(seconds_since(start) < 1.5);
  o.total_timeout = 200ms;  // the attempt's deadline comes first
  auto impatient = make_client(o);
  BOOST_TEST(expect_error(get(*impatient, url)) ==
             "GET " + url + ": total timeout of 200 ms reached while connecting (retries disabled)");
}

BOOST_AUTO_TEST_CASE(trickling_body_hits_the_total_timeout) {
  auto o = options();
  o.read_timeout = 500ms;  // never reached: a byte arrives every 100 ms
  o.total_timeout = 800ms;
  o.retry.max_attempts = 1;
  auto client = make_client(o);
  const auto start = std::chrono::steady_clock::now();
  const std::string error = expect_error(get(*client, server.url("/trickle")));
  const double elapsed = seconds_since(start);
  BOOST_TEST(error ==
             "GET " + server.url("/trickle") +
                 ": total timeout of 800 ms reached while reading the response body (retries disabled)");
  BOOST_TEST(elapsed >= 0.75);
  BOOST_TEST(elapsed < 2.0);
}

BOOST_AUTO_TEST_CASE(body_over_the_limit_is_refused) {
  auto o = options();
  o.max_body_bytes = 1 << 20;
  auto client = make_client(o);
  const std::string limit = "response body exceeds the limit of 1048576 bytes";
  BOOST_TEST(expect_error(get(*client, server.url("/big?bytes=2097152"))) ==
             "GET " + server.url("/big?bytes=*") + ": " + limit);
  BOOST_TEST(expect_error(get(*client, server.url("/big-chunked?bytes=2097152"))) ==
             "GET " + server.url("/big-chunked?bytes=*") + ": " + limit);
  BOOST_TEST(server.count("/big?bytes=2097152") == 1u);  // limits are not retried
  const Response at_limit = expect_response(get(*client, server.url("/big?bytes=1048576")));
  BOOST_TEST(at_limit.body.size() == 1048576u);
  BOOST_TEST(at_limit.body == std::string(1048576, 'b'));
}

BOOST_AUTO_TEST_CASE(header_over_the_limit_is_refused) {
  auto client = make_client(options());  // default limit: 64 KiB; the server sends 100 KiB
  BOOST_TEST(expect_error(get(*client, server.url("/big-header"))) ==
             "GET " + server.url("/big-header") + ": response header exceeds the limit of 65536 bytes");
  BOOST_TEST(server.count("/big-header") == 1u);
}

BOOST_AUTO_TEST_CASE(keep_alive_reuses_one_connection) {
  auto client = make_client(options());
  for (int i = 0; i < 3; ++i) BOOST_TEST(expect_response(get(*client, server.url("/ok"))).status == 200);
  const Response head = expect_response(send(*client, "HEAD", server.url("/ok")));
  BOOST_TEST(head.status == 200);
  BOOST_TEST(head.body.empty());
  BOOST_TEST(head.header("content-length") == "2");
  BOOST_TEST(expect_response(get(*client, server.url("/ok"))).body == "ok");  // framing intact after HEAD
  BOOST_TEST(client->counters().connections_opened == 1u);
  std::set<int> connections;
  for (const auto& r : server.requests()) connections.insert(r.connection);
  BOOST_TEST(connections.size() == 1u);
}

BOOST_AUTO_TEST_CASE(idle_connection_closed_by_the_server_is_not_reused) {
  auto client = make_client(options());
  BOOST_TEST(expect_response(get(*client, server.url("/keepalive-then-close"))).status == 200);
  std::this_thread::sleep_for(150ms);  // the server closes the idle connection after 20 ms
  const Response r = expect_response(get(*client, server.url("/ok")));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.attempts == 1);
  const Response post = expect_response(send(*client, "POST", server.url("/ok?post")));
  BOOST_TEST(post.status == 200);
  BOOST_TEST(client->counters().connections_opened == 2u);
  BOOST_TEST(client->counters().retries == 0u);
  BOOST_TEST(server.count("/ok") == 1u);
}

BOOST_AUTO_TEST_CASE(stale_connection_is_resent_once_on_a_fresh_one_for_get) {
  auto client = make_client(options());
  BOOST_TEST(expect_response(get(*client, server.url("/ok-then-drop-next"))).status == 200);
  // The server drops the next request on that connection without answering, as a server that closed it the
  // moment the request was sent would.
  const Response r = expect_response(get(*client, server.url("/ok?after-drop")));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.attempts == 1);
  BOOST_TEST(client->counters().retries == 0u);
  BOOST_TEST(client->counters().connections_opened == 2u);
  std::vector<int> connections;
  for (const auto& rec : server.requests())
    if (rec.target == "/ok?after-drop") connections.push_back(rec.connection);
  BOOST_REQUIRE(connections.size() == 2u);  // the dropped one and the resend
  BOOST_TEST(connections[0] != connections[1]);
}

BOOST_AUTO_TEST_CASE(stale_connection_is_not_resent_for_post) {
  auto client = make_client(options());
  BOOST_TEST(expect_response(get(*client, server.url("/ok-then-drop-next"))).status == 200);
  const std::string error = expect_error(send(*client, "POST", server.url("/ok?post-after-drop")));
  BOOST_TEST(error == "POST " + server.url("/ok?post-after-drop") +
                          ": connection closed by the server before a response arrived");
  BOOST_TEST(server.count("/ok?post-after-drop") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
