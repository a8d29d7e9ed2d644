#pragma once
// Strict Retry-After parsing (RFC 9110 section 10.2.3). Reference clients get this wrong in both directions:
// an HTTP-date read as seconds becomes NaN and a 1 ms poll loop, and servers send epoch seconds or
// milliseconds (RELIABILITY.md T7). This function only parses; the caller clamps the result to its policy.
#include <chrono>
#include <optional>
#include <string_view>

namespace cf::transport {

// delay-seconds ("120") or an HTTP-date in any of the three RFC 9110 forms ("Sun, 06 Nov 1994 08:49:37 GMT",
// "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"). A date in the past gives 0 ms. Anything else
// ("-5", "1.5", "abc", "", "120, 60") gives nullopt so the caller falls back to its own backoff. Absurd but
// well-formed values (epoch seconds or milliseconds as delay-seconds) are returned as they are, saturated at
// 10^15 seconds, so that the caller's cap recognises and clamps them.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

// The HTTP-date half of the above, exposed for tests and for other date headers (Expires, Date).
std::optional<std::chrono::system_clock::time_point> parse_http_date(
    std::string_view value, std::chrono::system_clock::time_point now);

}  // namespace cf::transport
