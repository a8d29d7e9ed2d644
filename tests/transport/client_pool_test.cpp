// Per-origin connection pool under concurrency (RELIABILITY.md T12).
#include <atomic>
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
};

// `threads` threads each send `per_thread` requests to /delay/50 on each of `hosts`; returns the successes.
int hammer(HttpClient& client, const FaultServer& server, int threads, int per_thread,
           const std::vector<std::string>& hosts) {
  std::atomic<int> ok{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        for (const auto& host : hosts) {
          Request request;
          request.url =
              *Url::parse(server.url("/delay/50?t=" + std::to_string(t) + "-" + std::to_string(i), host));
          auto r = client.send(request);
          if (r.ok() && r->status == 200) ++ok;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  return ok.load();
}
}  // namespace

BOOST_FIXTURE_TEST_SUITE(client_pool, Server)

BOOST_AUTO_TEST_CASE(eight_threads_share_at_most_four_connections) {
  auto o = fast_options();
  o.max_connections = 4;
  auto client = make_client(o);
  BOOST_TEST(hammer(*client, server, 8, 5, {"127.0.0.1"}) == 40);
  const auto stats = server.stats("127.0.0.1");
  BOOST_TEST(stats.max_open == 4);  // reached and never exceeded
  BOOST_TEST(stats.tcp_connections == 4);
  BOOST_TEST(client->counters().connections_opened == 4u);
  BOOST_TEST(client->counters().requests == 40u);
  const auto requests = server.requests();
  BOOST_TEST(requests.size() == 40u);
  std::set<int> connections;
  for (const auto& r : requests) connections.insert(r.connection);
  BOOST_TEST(connections.size() == 4u);
}

BOOST_AUTO_TEST_CASE(single_connection_pool_serialises_requests) {
  auto o = fast_options();
  o.max_connections = 1;
  auto client = make_client(o);
  BOOST_TEST(hammer(*client, server, 3, 3, {"127.0.0.1"}) == 9);
  BOOST_TEST(server.stats("127.0.0.1").max_open == 1);
  BOOST_TEST(client->counters().connections_opened == 1u);
}

BOOST_AUTO_TEST_CASE(limit_applies_per_origin) {
  if (!server.has_second_host()) {
    BOOST_TEST_MESSAGE("127.0.0.2 is not usable here; skipping the second origin");
    return;
  }
  auto o = fast_options();
  o.max_connections = 2;
  auto client = make_client(o);
  BOOST_TEST(hammer(*client, server, 4, 3, {"127.0.0.1", "127.0.0.2"}) == 24);
  BOOST_TEST(server.stats("127.0.0.1").max_open == 2);
  BOOST_TEST(server.stats("127.0.0.2").max_open == 2);
  BOOST_TEST(client->counters().connections_opened == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
