// gzip/deflate end to end: inflated, bombs and damaged streams refused (RELIABILITY.md T10, F10-F12).
#include <boost/test/unit_test.hpp>

#include "fault-server/fault_server.hpp"
#include "test_support.hpp"

using namespace cf::transport;
using namespace cf::transport::test;
using cf::testing::FaultServer;

namespace {
struct Server {
  FaultServer server;
};
std::string expected_text() {
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "cohort-finder gzip test line\n";
  return text;
}
}  // namespace

BOOST_FIXTURE_TEST_SUITE(client_decoding, Server)

BOOST_AUTO_TEST_CASE(gzip_and_deflate_bodies_are_inflated) {
  auto client = make_client(fast_options());
  for (const char* path : {"/gzip", "/deflate"}) {
    BOOST_TEST_CONTEXT(path) {
      const Response r = expect_response(get(*client, server.url(path)));
      BOOST_TEST(r.status == 200);
      BOOST_TEST(r.body.size() == 29000u);
      BOOST_TEST(r.body == expected_text());
    }
  }
  for (const auto& request : server.requests())
    BOOST_TEST(request.header("accept-encoding") == "gzip, deflate");
}

BOOST_AUTO_TEST_CASE(gzip_bomb_is_refused_at_the_decoded_limit) {
  auto o = fast_options();
  o.max_decoded_bytes = 16u << 20;
  auto client = make_client(o);
  const auto start = std::chrono::steady_clock::now();
  const std::string error = expect_error(get(*client, server.url("/gzip-bomb")));
  BOOST_TEST(contains(error, "decoded body exceeds the limit of 16777216 bytes (compressed body of "), error);
  BOOST_TEST(seconds_since(start) < 10.0);
  BOOST_TEST(server.count("/gzip-bomb") == 1u);
}

BOOST_AUTO_TEST_CASE(truncated_gzip_is_refused) {
  auto client = make_client(fast_options());
  BOOST_TEST(expect_error(get(*client, server.url("/gzip-truncated"))) ==
             "GET " + server.url("/gzip-truncated") +
                 ": compressed body is truncated (stream ended before its trailer)");
  BOOST_TEST(server.count("/gzip-truncated") == 1u);
}

BOOST_AUTO_TEST_CASE(gzip_with_bad_crc_is_refused) {
  auto client = make_client(fast_options());
  BOOST_TEST(expect_error(get(*client, server.url("/gzip-badcrc"))) ==
             "GET " + server.url("/gzip-badcrc") + ": compressed body is corrupt: incorrect data check");
}

BOOST_AUTO_TEST_CASE(encoding_not_offered_is_refused) {
  auto client = make_client(fast_options());
  BOOST_TEST(expect_error(get(*client, server.url("/br"))) ==
             "GET " + server.url("/br") + ": unsupported Content-Encoding 'br'");
}

BOOST_AUTO_TEST_SUITE_END()
