#pragma once
// Shared helpers for the transport tests: fast client options, a thread-safe log sink, short request calls.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "transport/http_client.hpp"

namespace cf::transport::test {

using namespace std::chrono_literals;

// Collects the client's retry log lines; the callback may run on several threads.
class LogLines {
 public:
  std::function<void(const std::string&)> sink() {
    auto state = state_;
    return [state](const std::string& line) {
      std::lock_guard lock(state->mutex);
      state->lines.push_back(line);
    };
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(state_->mutex);
    return state_->lines;
  }
  // The "retry ..." lines only (without the concurrency changes a 429 or 503 also logs).
  std::vector<std::string> retries() const {
    std::vector<std::string> out;
    for (auto& l : lines())
      if (l.rfind("retry ", 0) == 0) out.push_back(std::move(l));
    return out;
  }

 private:
  struct State {
    std::mutex mutex;
    std::vector<std::string> lines;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Short timeouts and millisecond backoff so that retry tests take milliseconds, not minutes.
inline ClientOptions fast_options() {
  ClientOptions o;
  o.connect_timeout = 2s;
  o.handshake_timeout = 2s;
  o.read_timeout = 5s;
  o.total_timeout = 10s;
  o.retry.base_delay = 1ms;
  o.retry.max_delay = 5ms;
  o.retry.max_retry_after = 2s;
  return o;
}

inline std::unique_ptr<HttpClient> make_client(ClientOptions options) {
  auto client = HttpClient::create(std::move(options));
  BOOST_REQUIRE_MESSAGE(client.ok(), (client.ok() ? std::string() : client.error().what()));
  return std::move(client).value();
}

inline Url url(std::string_view text) {
  auto parsed = Url::parse(text);
  BOOST_REQUIRE_MESSAGE(parsed.ok(), std::string(text) + ": " + (parsed.ok() ? "" : parsed.error().what()));
  return *parsed;
}

inline cf::Result<Response> send(HttpClient& client, std::string method, std::string_view target_url,
                                 HeaderList headers = {}) {
  Request request;
  request.method = std::move(method);
  request.url = url(target_url);
  request.headers = std::move(headers);
  return client.send(request);
}

inline cf::Result<Response> get(HttpClient& client, std::string_view target_url, HeaderList headers = {}) {
  return send(client, "GET", target_url, std::move(headers));
}

// The response of a request that must succeed (fails the test with the error otherwise).
inline Response expect_response(cf::Result<Response> result) {
  BOOST_REQUIRE_MESSAGE(result.ok(),
                        "unexpected error: " + (result.ok() ? std::string() : result.error().what()));
  return std::move(result).value();
}

// The error text of a request that must fail.
inline std::string expect_error(const cf::Result<Response>& result) {
  BOOST_REQUIRE_MESSAGE(!result.ok(),
                        "expected an error, got status " + std::to_string(result.ok() ? result->status : 0));
  return result.error().what();
}

inline bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// "delay=<n>ms" from a retry log line.
inline std::optional<long> logged_delay_ms(const std::string& line) {
  const auto p = line.find("delay=");
  if (p == std::string::npos) return std::nullopt;
  return std::stol(line.substr(p + 6));
}

}  // namespace cf::transport::test
