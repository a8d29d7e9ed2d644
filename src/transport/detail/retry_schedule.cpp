#include "transport/detail/retry_schedule.hpp"

#include <algorithm>

#include "transport/retry_after.hpp"

namespace cf::transport::detail {

bool is_idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
}

// RELIABILITY T6: the idempotent methods the client sends. DELETE (of a finished export job) removes the same
// job however often it is sent; a 404 on a repeat means it is gone, which the caller treats as success.
bool may_retry(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "DELETE";
}

bool is_idempotent(const Request& r) {
  return r.safe || is_idempotent(r.method);
}

bool may_retry(const Request& r) {
  return r.safe || may_retry(r.method);
}

// RELIABILITY T6: 500 is retried too, within the same bounded attempts and run budget: EHRs answer overloads
// and restarts with it (as they disguise fatal errors as it, which is why the retries are bounded).
bool is_retryable_status(int s) {
  return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

std::chrono::milliseconds backoff_ceiling(const RetryPolicy& policy, int retry) {
  auto ceiling = policy.base_delay;
  for (int i = 1; i < retry && ceiling < policy.max_delay; ++i) ceiling *= 2;  // stops before it can overflow
  return std::min(ceiling, policy.max_delay);
}

RetryDelay choose_delay(const RetryPolicy& policy, int retry,
                        const std::vector<std::string>& retry_after_values,
                        std::chrono::system_clock::time_point now, std::uint64_t random_bits) {
  using std::chrono::milliseconds;
  // Several Retry-After headers contradict each other: ignore them all (RELIABILITY.md F8).
  if (retry_after_values.size() == 1) {
    if (auto wanted = parse_retry_after(retry_after_values.front(), now)) {
      if (*wanted > policy.max_retry_after)
        return {policy.max_retry_after, "Retry-After " + std::to_string(wanted->count()) + "ms clamped"};
      if (const auto floor = std::min(policy.min_retry_after, policy.max_retry_after); *wanted < floor)
        return {floor, "Retry-After " + std::to_string(wanted->count()) + "ms raised"};
      return {*wanted, "Retry-After"};
    }
  }
  const auto ceiling = static_cast<std::uint64_t>(backoff_ceiling(policy, retry).count());
  return {milliseconds{static_cast<milliseconds::rep>(random_bits % (ceiling + 1))}, "backoff"};
}

}  // namespace cf::transport::detail
