#pragma once
// What may be retried and how long to wait (RELIABILITY.md T6, T7). Pure functions, tested directly.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "transport/client_options.hpp"
#include "transport/http_message.hpp"

namespace cf::transport::detail {

// RFC 9110 section 9.2.2. A request on a pooled connection that the server had already closed never reached
// it, so idempotent requests may be resent once on a fresh connection.
bool is_idempotent(std::string_view method);
// Only GET, HEAD and DELETE are retried after a failure that may have reached the server.
bool may_retry(std::string_view method);
// The same for a request: its method, or a POST marked safe (a FHIR search that changes nothing).
bool is_idempotent(const Request& request);
bool may_retry(const Request& request);
// 408, 429, 500, 502, 503 and 504: the server asks us to come back later, failed for now, or a proxy lost the
// upstream.
bool is_retryable_status(int status);

// Full-jitter ceiling before retry number `retry` (1 = first retry): base_delay * 2^(retry-1), capped at
// max_delay.
std::chrono::milliseconds backoff_ceiling(const RetryPolicy& policy, int retry);

struct RetryDelay {
  std::chrono::milliseconds delay{0};
  std::string source;  // for the log line: "backoff", "Retry-After" or "Retry-After <n>ms clamped"
};

// Retry-After wins when exactly one well-formed value is present (clamped to max_retry_after); otherwise the
// delay is `random_bits` mapped uniformly onto 0..backoff_ceiling (full jitter).
RetryDelay choose_delay(const RetryPolicy& policy, int retry,
                        const std::vector<std::string>& retry_after_values,
                        std::chrono::system_clock::time_point now, std::uint64_t random_bits);

}  // namespace cf::transport::detail
