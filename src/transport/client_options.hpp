#pragma once
// Configuration of an HttpClient. Defaults follow RELIABILITY.md T5-T10; tests shrink delays and limits.
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "core/result.hpp"

namespace cf::transport {

struct RetryPolicy {
  int max_attempts = 5;                        // per request, the first attempt included
  std::chrono::milliseconds base_delay{500};   // backoff ceiling for the first retry; doubles each retry
  std::chrono::milliseconds max_delay{60000};  // backoff ceiling cap (full jitter: the delay is 0..ceiling)
  std::chrono::milliseconds max_retry_after{300000};  // a longer Retry-After is clamped to this and logged
  // A shorter Retry-After ("0", a date already past) is raised to this (RELIABILITY T7): a server that asks
  // for no wait is not polled back to back. Never more than max_retry_after.
  std::chrono::milliseconds min_retry_after{1000};
  int run_budget = 200;  // retries shared by every request of one client; once spent, failures are returned
};

struct ClientOptions {
  std::size_t max_connections = 4;                     // live connections per origin (idle + in use)
  std::chrono::milliseconds connect_timeout{10000};    // name resolution + TCP connect
  std::chrono::milliseconds handshake_timeout{10000};  // TLS handshake
  std::chrono::milliseconds read_timeout{60000};       // longest silence while sending or receiving
  std::chrono::milliseconds total_timeout{
      300000};  // one attempt, from waiting for a connection to the last byte
  std::chrono::milliseconds idle_timeout{30000};  // pooled connections idle longer than this are closed
  std::size_t max_header_bytes = 64 * 1024;
  std::size_t max_body_bytes = std::size_t{512} << 20;      // as received (compressed)
  std::size_t max_decoded_bytes = std::size_t{1024} << 20;  // after gzip/deflate decoding
  // send_streaming(): a body that is not streamed (an error status, or one the caller declines) is held in
  // memory, so it has its own, smaller cap, as received and after decoding. A Bulk file client allows
  // hundreds of GB for the files it streams; an error page of that size is a hostile or broken server.
  std::size_t max_unstreamed_bytes = std::size_t{16} << 20;
  // A body delimited only by the connection closing cannot be told apart from a truncated one (RELIABILITY.md
  // T8), so such responses are refused unless this is set.
  bool allow_close_delimited_body = false;
  std::string ca_file;  // PEM bundle to trust; empty = the system store
  // Debug builds only: in release builds (NDEBUG) HttpClient::create() refuses options that set it (T2).
  bool insecure_skip_verify = false;
  RetryPolicy retry;
  std::string user_agent = "cohort-finder";
  // Receives one line per retry: method, origin + path (no query), status or error, attempt and delay. No
  // header values, no query strings, no bodies. Runs on the sending thread, so possibly on several at once.
  std::function<void(const std::string&)> log;
};

// Checks ranges and the release-build ban on insecure_skip_verify. HttpClient::create() calls it.
cf::Status validate(const ClientOptions& options);

}  // namespace cf::transport
