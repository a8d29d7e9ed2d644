// Which requests and statuses are retried, and how long the client waits (RELIABILITY.md T6, T7).
#include <boost/test/unit_test.hpp>

#include "transport/detail/retry_schedule.hpp"

using namespace std::chrono_literals;
using namespace cf::transport::detail;
using cf::transport::RetryPolicy;

BOOST_AUTO_TEST_SUITE(retry_schedule)

BOOST_AUTO_TEST_CASE(only_get_and_head_are_retried) {
  BOOST_TEST(may_retry("GET"));
  BOOST_TEST(may_retry("HEAD"));
  BOOST_TEST(may_retry("DELETE"));
  for (const char* m : {"POST", "PUT", "PATCH", "OPTIONS", "get"}) BOOST_TEST(!may_retry(m), m);
  for (const char* m : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}) BOOST_TEST(is_idempotent(m), m);
  for (const char* m : {"POST", "PATCH"}) BOOST_TEST(!is_idempotent(m), m);
  cf::transport::Request post;
  post.method = "POST";
  BOOST_TEST((!may_retry(post) && !is_idempotent(post)));
  post.safe = true;  // a FHIR search sent as POST
  BOOST_TEST((may_retry(post) && is_idempotent(post)));
}

BOOST_AUTO_TEST_CASE(retryable_statuses) {
  for (int s : {408, 429, 500, 502, 503, 504}) BOOST_TEST(is_retryable_status(s), s);
  for (int s : {200, 301, 400, 401, 403, 404, 410, 422, 501, 505}) BOOST_TEST(!is_retryable_status(s), s);
}

BOOST_AUTO_TEST_CASE(backoff_ceiling_doubles_up_to_max_delay) {
  RetryPolicy p;  // 500 ms base, 60 s cap
  BOOST_TEST(backoff_ceiling(p, 1).count() == 500);
  BOOST_TEST(backoff_ceiling(p, 2).count() == 1000);
  BOOST_TEST(backoff_ceiling(p, 3).count() == 2000);
  BOOST_TEST(backoff_ceiling(p, 7).count() == 32000);
  BOOST_TEST(backoff_ceiling(p, 8).count() == 60000);
  BOOST_TEST(backoff_ceiling(p, 1000).count() == 60000);  // no overflow
}

BOOST_AUTO_TEST_CASE(full_jitter_maps_random_bits_onto_zero_to_ceiling) {
  RetryPolicy p;
  const auto now = std::chrono::system_clock::now();
  BOOST_TEST(choose_delay(p, 1, {}, now, 0).delay.count() == 0);
  BOOST_TEST(choose_delay(p, 1, {}, now, 500).delay.count() == 500);
  BOOST_TEST(choose_delay(p, 1, {}, now, 501).delay.count() == 0);
  BOOST_TEST(choose_delay(p, 1, {}, now, 1234).delay.count() == 1234 % 501);
  BOOST_TEST(choose_delay(p, 3, {}, now, 1999).delay.count() == 1999);
  BOOST_TEST(choose_delay(p, 1, {}, now, 7).source == "backoff");
}

BOOST_AUTO_TEST_CASE(retry_after_wins_and_is_clamped) {
  RetryPolicy p;
  p.max_retry_after = 300s;
  const auto now = std::chrono::system_clock::now();
  auto honoured = choose_delay(p, 1, {"2"}, now, 0);
  BOOST_TEST(honoured.delay.count() == 2000);
  BOOST_TEST(honoured.source == "Retry-After");
  auto clamped = choose_delay(p, 1, {"1766170000"}, now, 0);
  BOOST_TEST(clamped.delay.count() == 300000);
  BOOST_TEST(clamped.source == "Retry-After 1766170000000ms clamped");
  // RELIABILITY T7: no wait at all, or a date already past, is raised to the minimum (1 s by default).
  for (const char* none : {"0", "Fri, 31 Dec 1999 23:59:59 GMT"}) {
    auto raised = choose_delay(p, 1, {none}, now, 0);
    BOOST_TEST(raised.delay.count() == 1000, none);
    BOOST_TEST(raised.source == "Retry-After 0ms raised", none);
  }
  p.max_retry_after = 200ms;  // the maximum wins over the minimum
  BOOST_TEST(choose_delay(p, 1, {"0"}, now, 0).delay.count() == 200);
  p.max_retry_after = 300s;
  auto garbage = choose_delay(p, 1, {"1.5"}, now, 42);
  BOOST_TEST(garbage.delay.count() == 42);
  BOOST_TEST(garbage.source == "backoff");
  auto duplicate = choose_delay(p, 1, {"100", "1"}, now, 42);  // contradictory headers are ignored
  BOOST_TEST(duplicate.delay.count() == 42);
  BOOST_TEST(duplicate.source == "backoff");
}

BOOST_AUTO_TEST_SUITE_END()
