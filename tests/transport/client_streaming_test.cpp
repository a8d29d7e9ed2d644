// HttpClient::send_streaming(): bodies handed on in pieces as they arrive (Content-Length, chunked, gzip and
// deflate, over TLS), the decoded-size cap, and failures after part of a body was delivered: reported as
// errors, never retried, resumed or taken for the end of the body.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "fault-server/fault_server.hpp"
#include "fault-server/test_pki.hpp"
#include "test_support.hpp"

using namespace cf::transport;
using namespace cf::transport::test;
using cf::testing::FaultServer;

namespace {

// What a sink was given.
struct Pieces {
  std::vector<std::size_t> sizes;
  std::string text;
  bool keep_text = true;
  std::size_t total = 0;
  bool all_same = true;  // every byte equals the first (checked when the text is not kept)
  char first = 0;

  HttpClient::BodySink sink() {
    return [this](std::string_view piece) {
      sizes.push_back(piece.size());
      if (total == 0 && !piece.empty()) first = piece[0];
      for (char c : piece) all_same = all_same && c == first;
      total += piece.size();
      if (keep_text) text.append(piece);
      return cf::Status::success();
    };
  }
  std::size_t largest() const {
    std::size_t m = 0;
    for (auto s : sizes) m = std::max(m, s);
    return m;
  }
};

cf::Result<Response> stream(HttpClient& client, std::string_view target_url, Pieces& pieces) {
  Request request;
  request.url = url(target_url);
  return client.send_streaming(request, pieces.sink());
}

ClientOptions options(int attempts = 3) {
  ClientOptions o = fast_options();
  o.retry.max_attempts = attempts;
  return o;
}

std::string gzip_text() {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "cohort-finder gzip test line\n";
  return text;
}

struct Server {
  FaultServer server;
};

}  // namespace

BOOST_FIXTURE_TEST_SUITE(client_streaming, Server)

BOOST_AUTO_TEST_CASE(content_length_body_arrives_in_several_pieces) {
  auto client = make_client(options());
  Pieces p;
  p.keep_text = false;
  const std::size_t bytes = 8u << 20;
  const Response r = expect_response(stream(*client, server.url("/big?bytes=" + std::to_string(bytes)), p));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body.empty());  // went to the sink, not into the response
  BOOST_TEST(r.header("content-length") == std::to_string(bytes));
  BOOST_TEST(p.total == bytes);
  BOOST_TEST(p.all_same);
  BOOST_TEST(p.first == 'b');
  BOOST_TEST(p.sizes.size() >= bytes / (64u << 10));  // pieces of at most 64 KiB
  BOOST_TEST(p.largest() <= 64u << 10);
  // The connection is reused afterwards: the framing is intact.
  BOOST_TEST(expect_response(get(*client, server.url("/ok"))).body == "ok");
  BOOST_TEST(client->counters().connections_opened == 1u);
}

BOOST_AUTO_TEST_CASE(chunked_body_arrives_in_several_pieces) {
  auto client = make_client(options());
  Pieces p;
  p.keep_text = false;
  const std::size_t bytes = 8u << 20;
  const Response r =
      expect_response(stream(*client, server.url("/big-chunked?bytes=" + std::to_string(bytes)), p));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body.empty());
  BOOST_TEST(r.header("transfer-encoding") == "chunked");
  BOOST_TEST(p.total == bytes);
  BOOST_TEST(p.all_same);
  BOOST_TEST(p.first == 'c');
  BOOST_TEST(p.sizes.size() >= bytes / (64u << 10));
  BOOST_TEST(p.largest() <= 64u << 10);
}

BOOST_AUTO_TEST_CASE(gzip_and_deflate_are_decoded_piece_by_piece) {
  auto client = make_client(options());
  for (const char* path : {"/gzip", "/deflate"}) {
    BOOST_TEST_CONTEXT(path) {
      Pieces p;
      const Response r = expect_response(stream(*client, server.url(path), p));
      BOOST_TEST(r.status == 200);
      BOOST_TEST(p.text == gzip_text());  // decoded
      BOOST_TEST(p.sizes.size() >= 2u);   // 29000 decoded bytes come out in pieces of at most 16 KiB
      BOOST_TEST(p.largest() <= 16u << 10);
    }
  }
}

BOOST_AUTO_TEST_CASE(decoded_cap_is_enforced_while_streaming) {
  auto o = options();
  o.max_decoded_bytes = 16u << 20;
  auto client = make_client(o);
  Pieces p;
  p.keep_text = false;
  const std::string error = expect_error(stream(*client, server.url("/gzip-bomb"), p));
  BOOST_TEST(contains(error, "decoded body exceeds the limit of 16777216 bytes (compressed body of "), error);
  BOOST_TEST(contains(error, "bytes so far)"), error);
  BOOST_TEST(contains(error, "bytes of the body had been delivered; not retried"), error);
  // The bomb expands to zeros; everything up to the cap was handed on, nothing beyond it.
  BOOST_TEST(p.total <= 16u << 20);
  BOOST_TEST(p.total > 8u << 20);
  BOOST_TEST(p.all_same);
  BOOST_TEST(p.first == '\0');
  BOOST_TEST(p.sizes.size() > 100u);
  BOOST_TEST(server.count("/gzip-bomb") == 1u);
}

BOOST_AUTO_TEST_CASE(damaged_gzip_fails_after_or_before_delivery) {
  auto client = make_client(options());
  Pieces truncated;
  const std::string error = expect_error(stream(*client, server.url("/gzip-truncated"), truncated));
  BOOST_TEST(error == "GET " + server.url("/gzip-truncated") +
                          ": compressed body is truncated (stream ended before its trailer) (after " +
                          std::to_string(truncated.total) +
                          " bytes of the body had been delivered; not retried)");
  BOOST_TEST(truncated.total < gzip_text().size());
  BOOST_TEST(server.count("/gzip-truncated") == 1u);
  Pieces unsupported;
  BOOST_TEST(expect_error(stream(*client, server.url("/br"), unsupported)) ==
             "GET " + server.url("/br") + ": unsupported Content-Encoding 'br'");
  BOOST_TEST(unsupported.sizes.empty());
}

BOOST_AUTO_TEST_CASE(short_content_length_body_is_an_error_after_partial_delivery_and_not_retried) {
  auto client = make_client(options(3));
  Pieces p;
  const std::string error = expect_error(stream(*client, server.url("/short-body"), p));
  BOOST_TEST(error == "GET " + server.url("/short-body") +
                          ": connection closed before the response was complete (body shorter than its "
                          "Content-Length or chunked stream cut off) (after 500 bytes of the body had been "
                          "delivered; not retried)");
  BOOST_TEST(p.total == 500u);  // what arrived was handed on, and the error says the rest is missing
  BOOST_TEST(server.count("/short-body") == 1u);
  BOOST_TEST(client->counters().retries == 0u);
}

BOOST_AUTO_TEST_CASE(cut_chunked_stream_and_reset_are_errors_after_partial_delivery) {
  auto client = make_client(options(3));
  Pieces cut;
  const std::string error = expect_error(stream(*client, server.url("/chunked-cut"), cut));
  BOOST_TEST(contains(error, "connection closed before the response was complete"), error);
  BOOST_TEST(contains(error, "(after 11 bytes of the body had been delivered; not retried)"), error);
  BOOST_TEST(cut.text == "hello world");
  BOOST_TEST(server.count("/chunked-cut") == 1u);

  Pieces reset;
  const std::string reset_error = expect_error(stream(*client, server.url("/reset-mid-body"), reset));
  BOOST_TEST(contains(reset_error, "connection reset by the server while reading the response body (after "),
             reset_error);
  BOOST_TEST(reset.total > 0u);
  BOOST_TEST(reset.total < 10000u);
  BOOST_TEST(server.count("/reset-mid-body") == 1u);
  BOOST_TEST(client->counters().retries == 0u);
}

BOOST_AUTO_TEST_CASE(timeout_after_partial_delivery_is_not_retried) {
  auto o = options(3);
  o.read_timeout = 500ms;  // never reached: a byte arrives every 100 ms
  o.total_timeout = 700ms;
  auto client = make_client(o);
  Pieces p;
  const std::string error = expect_error(stream(*client, server.url("/trickle"), p));
  BOOST_TEST(contains(error, "total timeout of 700 ms reached while reading the response body (after "),
             error);
  BOOST_TEST(p.total > 0u);
  BOOST_TEST(server.count("/trickle") == 1u);
}

BOOST_AUTO_TEST_CASE(failures_before_any_byte_are_retried_as_send_retries_them) {
  auto o = options(3);
  o.read_timeout = 300ms;
  auto client = make_client(o);
  // Retryable statuses: their bodies are not streamed; the final 200's is.
  Pieces p;
  const Response r = expect_response(stream(*client, server.url("/503/2"), p));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.attempts == 3);
  BOOST_TEST(p.text == "ok after failures");
  // Headers, then silence: nothing was delivered, so the attempt is repeated.
  Pieces silent;
  const std::string error = expect_error(stream(*client, server.url("/slow"), silent));
  BOOST_TEST(contains(error,
                      "no data for 300 ms while reading the response body (read timeout) (gave up after "
                      "3 attempts)"),
             error);
  BOOST_TEST(silent.sizes.empty());
  BOOST_TEST(server.count("/slow") == 3u);
}

BOOST_AUTO_TEST_CASE(other_statuses_are_returned_with_their_body) {
  auto client = make_client(options());
  Pieces p;
  const Response r = expect_response(stream(*client, server.url("/404"), p));
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.body == "not found");
  BOOST_TEST(p.sizes.empty());
  const Response redirect = expect_response(stream(*client, server.url("/redirect"), p));
  BOOST_TEST(redirect.status == 302);
  BOOST_TEST(redirect.body == "moved");
  BOOST_TEST(p.sizes.empty());
  // A 2xx body the caller declines to stream (here by its Content-Type) is collected as send() does.
  Request request;
  request.url = url(server.url("/ok"));
  int asked = 0;
  const Response declined =
      expect_response(client->send_streaming(request, p.sink(), [&](const Response& head) {
        ++asked;
        BOOST_TEST(head.status == 200);
        BOOST_TEST(head.body.empty());
        return head.header("content-type") != "text/plain";
      }));
  BOOST_TEST(asked == 1);
  BOOST_TEST(declined.body == "ok");
  BOOST_TEST(p.sizes.empty());
}

BOOST_AUTO_TEST_CASE(sink_error_aborts_the_transfer) {
  auto client = make_client(options(3));
  std::size_t calls = 0;
  Request request;
  request.url = url(server.url("/big?bytes=4194304"));
  const auto result = client->send_streaming(request, [&](std::string_view) -> cf::Status {
    if (++calls == 2) return cf::make_error("the consumer gave up", "test sink");
    return cf::Status::success();
  });
  BOOST_REQUIRE(!result.ok());
  BOOST_TEST(result.error().what() == "test sink: the consumer gave up");  // the sink's error, as it is
  BOOST_TEST(calls == 2u);
  BOOST_TEST(server.count("/big?bytes=4194304") == 1u);
  // The half-read connection is not reused.
  BOOST_TEST(expect_response(get(*client, server.url("/ok"))).body == "ok");
  BOOST_TEST(client->counters().connections_opened == 2u);
}

BOOST_AUTO_TEST_CASE(body_over_the_limit_is_refused_while_streaming) {
  auto o = options();
  o.max_body_bytes = 1 << 20;
  auto client = make_client(o);
  Pieces p;
  BOOST_TEST(expect_error(stream(*client, server.url("/big?bytes=2097152"), p)) ==
             "GET " + server.url("/big?bytes=*") + ": response body exceeds the limit of 1048576 bytes");
  BOOST_TEST(p.sizes.empty());  // Content-Length announced too much: refused before any byte
  Pieces chunked;
  chunked.keep_text = false;
  const std::string error = expect_error(stream(*client, server.url("/big-chunked?bytes=2097152"), chunked));
  BOOST_TEST(contains(error, "response body exceeds the limit of 1048576 bytes (after "), error);
  BOOST_TEST(chunked.total <= 1u << 20);
  BOOST_TEST(server.count("/big-chunked?bytes=2097152") == 1u);
}

// A body that is not streamed is held in memory: it has its own cap, however much the streamed files may take
// (a Bulk file client allows 256 GiB).
BOOST_AUTO_TEST_CASE(unstreamed_bodies_have_their_own_cap) {
  auto o = options();
  o.max_body_bytes = o.max_decoded_bytes = std::size_t{1} << 30;
  o.max_unstreamed_bytes = 1 << 20;
  auto client = make_client(o);
  Pieces p;
  for (const char* path : {"/big?bytes=2097152", "/big-chunked?bytes=2097152"}) {
    Request request;
    request.url = url(server.url(path));
    const auto declined = client->send_streaming(request, p.sink(), [](const Response&) { return false; });
    BOOST_REQUIRE(!declined.ok());
    BOOST_TEST(
        contains(declined.error().what(), "response body (not streamed) exceeds the limit of 1048576 bytes"),
        declined.error().what());
  }
  BOOST_TEST(p.sizes.empty());
  // Streamed, the same body passes; small error bodies are still returned whole.
  BOOST_TEST(expect_response(stream(*client, server.url("/big?bytes=2097152"), p)).status == 200);
  BOOST_TEST(p.total == 2097152u);
  BOOST_TEST(expect_response(stream(*client, server.url("/404"), p)).body == "not found");
}

BOOST_AUTO_TEST_CASE(streams_over_tls) {
  static const cf::testing::TestPki pki;
  FaultServer tls_server(cf::testing::FaultServerOptions{pki.server.cert, pki.server.key});
  auto o = options();
  o.ca_file = pki.ca_file;
  auto client = make_client(o);
  const std::string base = "https://127.0.0.1:" + std::to_string(tls_server.port());
  Pieces p;
  p.keep_text = false;
  const Response r = expect_response(stream(*client, base + "/big-chunked?bytes=3000000", p));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(p.total == 3000000u);
  BOOST_TEST(p.sizes.size() > 10u);
  Pieces cut;
  const std::string error = expect_error(stream(*client, base + "/cut-no-close-notify", cut));
  BOOST_TEST(
      contains(error, "TLS stream truncated (closed without close_notify) while reading the response body"),
      error);
  BOOST_TEST(contains(error, "not retried"), error);
  BOOST_TEST(cut.total == 500u);
  BOOST_TEST(tls_server.count("/cut-no-close-notify") == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
