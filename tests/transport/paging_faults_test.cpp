// The FHIR paging fault pages served by the fault server, checked at the transport level: the pages arrive
// intact and Url::resolve/same_origin classify their next links (RELIABILITY.md P2-P4). The paging logic
// itself (stop, mark INCOMPLETE) belongs to src/source/ and is tested there.
#include <boost/test/unit_test.hpp>
#include <optional>

#include "fault-server/fault_server.hpp"
#include "test_support.hpp"

using namespace cf::transport;
using namespace cf::transport::test;
using cf::testing::FaultServer;

namespace {

struct Server {
  FaultServer server;
};

// The next link of a searchset page as the fault server writes it (no JSON library needed for this check).
std::optional<std::string> next_link(const std::string& body) {
  const std::string key = R"({"relation":"next","url":")";
  const auto start = body.find(key);
  if (start == std::string::npos) return std::nullopt;
  const auto end = body.find('"', start + key.size());
  return body.substr(start + key.size(), end - start - key.size());
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(paging_faults, Server)

BOOST_AUTO_TEST_CASE(follows_a_same_origin_chain_to_its_end) {
  auto client = make_client(fast_options());
  Url page = url(server.url("/fhir/Patient?page=1&pages=3"));
  int pages = 0;
  while (true) {
    Request request;
    request.url = page;
    const Response r = expect_response(client->send(request));
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.header("content-type") == "application/fhir+json");
    ++pages;
    const auto next = next_link(r.body);
    if (!next) break;
    auto resolved = resolve(page, *next);
    BOOST_REQUIRE(resolved.ok());
    BOOST_REQUIRE(same_origin(page, *resolved));
    page = *resolved;
  }
  BOOST_TEST(pages == 3);
  BOOST_TEST(server.count("/fhir/Patient?page=3&pages=3") == 1u);
}

BOOST_AUTO_TEST_CASE(cross_origin_next_link_is_recognised_and_nothing_is_sent_there) {
  auto client = make_client(fast_options());
  const Url first = url(server.url("/fhir/cross-origin"));
  Request request;
  request.url = first;
  request.headers = {{"Authorization", "Bearer SECRET"}};
  const Response r = expect_response(client->send(request));
  const auto next = next_link(r.body);
  BOOST_REQUIRE(next.has_value());
  BOOST_TEST(*next == server.url("/fhir/Patient?page=2&pages=2", "127.0.0.2"));
  auto resolved = resolve(first, *next);
  BOOST_REQUIRE(resolved.ok());
  BOOST_TEST(!same_origin(first, *resolved));
  // The recorder tells origins apart, so later paging tests can assert that no token reached 127.0.0.2.
  for (const auto& rec : server.requests()) BOOST_TEST(rec.local_address == "127.0.0.1");
  BOOST_TEST(server.stats("127.0.0.2").tcp_connections == 0);
  if (server.has_second_host()) {
    BOOST_TEST(expect_response(get(*client, resolved->str())).status == 200);  // reachable, without a token
    const auto requests = server.requests();
    BOOST_REQUIRE(requests.size() == 2u);
    BOOST_TEST(requests[1].local_address == "127.0.0.2");
    BOOST_TEST(!requests[1].has_header("authorization"));
    BOOST_TEST(requests[0].has_header("authorization"));
  }
}

BOOST_AUTO_TEST_CASE(relative_next_link_resolves_against_the_page_url) {
  auto client = make_client(fast_options());
  const Url first = url(server.url("/fhir/relative-next"));
  const Response r = expect_response(get(*client, first.str()));
  const auto next = next_link(r.body);
  BOOST_REQUIRE(next.has_value());
  BOOST_TEST(*next == "Patient?page=2&pages=2");
  auto resolved = resolve(first, *next);
  BOOST_REQUIRE(resolved.ok());
  BOOST_TEST(resolved->str() == server.url("/fhir/Patient?page=2&pages=2"));
  BOOST_TEST(same_origin(first, *resolved));
  BOOST_TEST(!next_link(expect_response(get(*client, resolved->str())).body).has_value());  // last page
}

BOOST_AUTO_TEST_CASE(next_link_with_a_doubled_port_is_refused) {
  auto client = make_client(fast_options());
  const Url first = url(server.url("/fhir/bad-port"));
  const auto next = next_link(expect_response(get(*client, first.str())).body);
  BOOST_REQUIRE(next.has_value());
  auto resolved = resolve(first, *next);
  BOOST_REQUIRE(!resolved.ok());
  BOOST_TEST(contains(resolved.error().message, "more than one ':'"));
}

BOOST_AUTO_TEST_CASE(next_link_loop_is_visible_as_a_repeated_url) {
  auto client = make_client(fast_options());
  const Url a = url(server.url("/fhir/loop-a"));
  const auto to_b = resolve(a, *next_link(expect_response(get(*client, a.str())).body));
  BOOST_REQUIRE(to_b.ok());
  BOOST_TEST(to_b->str() == server.url("/fhir/loop-b"));
  const auto back_to_a = resolve(*to_b, *next_link(expect_response(get(*client, to_b->str())).body));
  BOOST_REQUIRE(back_to_a.ok());
  BOOST_TEST(back_to_a->str() == a.str());  // a paging loop detector keyed on str() sees A twice
}

BOOST_AUTO_TEST_CASE(bad_json_pages_arrive_complete_and_unchanged) {
  auto client = make_client(fast_options());
  const Response malformed = expect_response(get(*client, server.url("/fhir/malformed-json")));
  BOOST_TEST(malformed.status == 200);
  BOOST_TEST(
      malformed.body ==
      R"({"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient",}])");
  const Response truncated = expect_response(get(*client, server.url("/fhir/truncated-json")));
  BOOST_TEST(truncated.status == 200);
  BOOST_TEST(truncated.body.size() == std::stoul(truncated.header("content-length")));
  BOOST_TEST(truncated.body.substr(0, 43) == R"({"resourceType":"Bundle","type":"searchset")");
  BOOST_TEST(truncated.body.back() != '}');
}

BOOST_AUTO_TEST_SUITE_END()
