// Per-origin connection pool under concurrency (RELIABILITY.md T12).
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <set>
#include <thread>

#include "fault-server/fault_server.hpp"
#include "test_support.hpp"
#include "transport/detail/adaptive_limit.hpp"

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

// RELIABILITY T12: a server that answers 429 whenever another request is in flight. 4 threads, 12 requests
// each: the client halves its limit to 1, probes 2 at most twice (a probe that overlaps draws one 429) and
// then stays at 1. Which requests overlap depends on timing; the limits below hold whatever it is.
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
      for (int i = 0; i < 12; ++i) {
        Request request;
        request.url = *Url::parse(server.url("/busy/50?t=" + std::to_string(t) + "-" + std::to_string(i)));
        auto r = client->send(request);
        if (r.ok() && r->status == 200) ++ok;
      }
    });
  for (auto& w : workers) w.join();
  BOOST_TEST(ok.load() == 48);
  int lowered = 0, raised = 0;
  for (const auto& line : log.lines()) {
    lowered += line.find("concurrency ") == 0 && line.find(" lowered to ") != std::string::npos;
    raised += line.find("concurrency ") == 0 && line.find(" raised to ") != std::string::npos;
  }
  BOOST_TEST_MESSAGE("429s " << client->counters().retries << ", lowered " << lowered << ", raised "
                             << raised);
  BOOST_TEST(lowered >= 2);  // 4 -> 2 -> 1
  BOOST_TEST(raised <= 2);   // then at most two probes
  BOOST_TEST(
      (lowered == raised + 2 || lowered == raised + 1));  // every probe but perhaps the last drew a 429
  // Every 429 is retried: the first wave (at most 3 + 1 while the limit comes down) and one per probe.
  BOOST_TEST(client->counters().retries <= 4u + static_cast<std::size_t>(raised));
}

BOOST_AUTO_TEST_SUITE_END()

// The limit's rules, without a network: halving once per wave, raising after 8 x limit calm answers, no more
// raises after two failed probes, and never above the configured limit or below 1.
BOOST_AUTO_TEST_CASE(adaptive_limit_rules) {
  using cf::transport::detail::AdaptiveLimit;
  using A = AdaptiveLimit::Answer;
  AdaptiveLimit l(4);
  const std::string o = "https://ehr.example";
  auto answer = [&](A a) { return l.release(l.acquire(o), a); };
  BOOST_TEST(l.limit(o) == 4u);
  // A wave of four sent under limit 4: the first 429 halves, the others of that wave do not.
  std::vector<AdaptiveLimit::Ticket> wave;
  for (int i = 0; i < 4; ++i) wave.push_back(l.acquire(o));
  BOOST_TEST(l.release(wave[0], A::overloaded) == 2u);
  BOOST_TEST(l.release(wave[1], A::overloaded) == 0u);
  BOOST_TEST(l.release(wave[2], A::ok) == 0u);
  BOOST_TEST(l.release(wave[3], A::overloaded) == 0u);
  BOOST_TEST(l.limit(o) == 2u);
  BOOST_TEST(answer(A::overloaded) == 1u);  // sent under limit 2
  BOOST_TEST(answer(A::overloaded) == 0u);  // at 1 already
  // 8 calm answers at limit 1 raise it to 2; failures without an answer neither count nor reset.
  for (int i = 0; i < 7; ++i) BOOST_TEST(answer(A::ok) == 0u);
  BOOST_TEST(answer(A::neither) == 0u);
  BOOST_TEST(answer(A::ok) == 2u);
  BOOST_TEST(answer(A::overloaded) == 1u);  // failed probe 1
  for (int i = 0; i < 7; ++i) answer(A::ok);
  BOOST_TEST(answer(A::ok) == 2u);
  for (int i = 0; i < 15; ++i) answer(A::ok);
  BOOST_TEST(answer(A::ok) == 3u);          // 16 calm answers at limit 2
  BOOST_TEST(answer(A::overloaded) == 1u);  // 3 / 2: failed probe 2
  for (int i = 0; i < 100; ++i) BOOST_TEST(answer(A::ok) == 0u);
  BOOST_TEST(l.limit(o) == 1u);                        // stays
  BOOST_TEST(l.limit("https://other.example") == 4u);  // per origin
}
