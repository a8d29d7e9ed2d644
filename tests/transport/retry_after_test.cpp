// parse_retry_after / parse_http_date (RFC 9110 section 10.2.3; RELIABILITY.md T7).
#include <boost/test/unit_test.hpp>
#include <chrono>

#include "transport/retry_after.hpp"

using namespace std::chrono;
using cf::transport::parse_http_date;
using cf::transport::parse_retry_after;

namespace {
// Friday 2025-12-19 12:00:00 UTC
const system_clock::time_point kNow = sys_days{year{2025} / December / 19} + hours{12};
}  // namespace

BOOST_AUTO_TEST_SUITE(retry_after)

BOOST_AUTO_TEST_CASE(accepts_delay_seconds_and_http_dates) {
  const std::pair<const char*, long long> cases[] = {
      {"120", 120'000},
      {"0", 0},
      {" 7 ", 7'000},
      {"007", 7'000},
      {"Fri, 19 Dec 2025 12:01:30 GMT", 90'000},   // IMF-fixdate 90 s ahead
      {"Friday, 19-Dec-25 12:01:30 GMT", 90'000},  // RFC 850
      {"Fri Dec 19 12:01:30 2025", 90'000},        // asctime
      {"Tue Dec  9 12:00:00 2025", 0},             // asctime, one-digit day, in the past
      {"Fri, 31 Dec 1999 23:59:59 GMT", 0},        // past date: no wait
      {"Fri, 19 Dec 2025 12:00:00 GMT", 0},        // now
      {"1766170000", 1'766'170'000'000},         // epoch seconds as delay-seconds: the caller's cap clamps it
      {"1766170000000", 1'766'170'000'000'000},  // epoch milliseconds (bulk-data-server lib.ts:695)
      {"99999999999999999999999", 1'000'000'000'000'000'000},  // saturated, no overflow
  };
  for (const auto& [value, expected_ms] : cases) {
    BOOST_TEST_CONTEXT(value) {
      auto delay = parse_retry_after(value, kNow);
      BOOST_REQUIRE(delay.has_value());
      BOOST_TEST(delay->count() == expected_ms);
    }
  }
}

BOOST_AUTO_TEST_CASE(refuses_garbage) {
  const char* cases[] = {"-5",
                         "1.5",
                         "abc",
                         "",
                         "   ",
                         "+5",
                         "5s",
                         "0x10",
                         "120, 60",
                         "1e3",
                         "Fri, 19 Dec 2025 12:01:30 UTC",
                         "fri, 19 Dec 2025 12:01:30 GMT",
                         "Fri, 19 dec 2025 12:01:30 GMT",
                         "Fri, 19 Dec 25 12:01:30 GMT",
                         "Fri, 30 Feb 2025 12:00:00 GMT",
                         "Fri, 19 Dec 2025 25:00:00 GMT",
                         "Fri, 19 Dec 2025 12:61:00 GMT",
                         "Fri, 1 Dec 2025 12:00:00 GMT",
                         "Fri, 19 Dec 2025 12:01:30 GMT trailing",
                         "Xyz, 19 Dec 2025 12:01:30 GMT",
                         "2025-12-19T12:01:30Z"};
  for (const char* value : cases) {
    BOOST_TEST_CONTEXT("'" << value << "'") {
      BOOST_TEST(!parse_retry_after(value, kNow).has_value());
    }
  }
}

BOOST_AUTO_TEST_CASE(rfc850_two_digit_years_never_land_more_than_50_years_ahead) {
  auto d1994 = parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", kNow);
  BOOST_REQUIRE(d1994.has_value());
  BOOST_TEST(duration_cast<seconds>(d1994->time_since_epoch()).count() == 784111777);
  auto d2070 = parse_http_date("Tuesday, 01-Jan-70 00:00:00 GMT", kNow);
  BOOST_REQUIRE(d2070.has_value());
  BOOST_TEST(duration_cast<seconds>(d2070->time_since_epoch()).count() ==
             duration_cast<seconds>((sys_days{year{2070} / January / 1}).time_since_epoch()).count());
}

BOOST_AUTO_TEST_CASE(far_future_dates_stay_representable) {
  auto delay = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", kNow);
  BOOST_REQUIRE(delay.has_value());
  BOOST_TEST(delay->count() > duration_cast<milliseconds>(hours{24 * 365 * 100}).count());
}

BOOST_AUTO_TEST_SUITE_END()
