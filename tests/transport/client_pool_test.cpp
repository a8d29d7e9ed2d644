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

// RELIABILITY T12: a server that answers 429 whenever another request is in flight. 4 threads, 8 requests
// each: the client halves its limit to 1, probes 2 twice (each probe draws one 429) and then stays at 1.
BOOST_AUTO_TEST_CASE(concurrency_halves_on_429_and_settles_at_one) {
  auto o = fast_options();
  o.max_connections = 4;
  o.retry.min_retry_after = 1ms;
  LogLines log;
  o.log = log.sink();
  auto client = make_client(o);
  std::atomic<int> ok{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t)
    workers.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        Request request;
        request.url = *Url::parse(server.url("/busy/50?t=" + std::to_string(t) + "-" + std::to_string(i)));
        auto r = client->send(request);
        if (r.ok() && r->status == 200) ++ok;
      }
    });
  for (auto& w : workers) w.join();
  BOOST_TEST(ok.load() == 32);
  int lowered = 0, raised = 0;
  std::string last;
  for (const auto& line : log.lines()) {
    if (line.find("concurrency ") != 0) continue;
    lowered += line.find(" lowered to ") != std::string::npos;
    raised += line.find(" raised to ") != std::string::npos;
    last = line;
  }
  BOOST_TEST_MESSAGE("429s " << client->counters().retries << ", lowered " << lowered << ", raised "
                             << raised);
  BOOST_TEST(raised == 2);   // two probes, both failed
  BOOST_TEST(lowered == 4);  // 4 -> 2 -> 1, and back to 1 after each probe
  BOOST_TEST(last.find("lowered to 1 after HTTP 429") != std::string::npos, last);
  // Every 429 is retried: the first wave (at most 3 + 1 while the limit comes down) and one per probe.
  BOOST_TEST(client->counters().retries <= 6u);
}

BOOST_AUTO_TEST_SUITE_END()
