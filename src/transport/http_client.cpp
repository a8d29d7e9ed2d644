#include "transport/http_client.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <variant>

#include "core/text.hpp"
#include "transport/detail/adaptive_limit.hpp"
#include "transport/detail/connection.hpp"
#include "transport/detail/connection_pool.hpp"
#include "transport/detail/content_decoding.hpp"
#include "transport/detail/request_builder.hpp"
#include "transport/detail/retry_schedule.hpp"
#include "transport/detail/tls_context.hpp"

namespace cf::transport {

using detail::Connection;
using detail::ConnectionPool;
using detail::Deadline;
using detail::Failure;

namespace {

std::vector<std::string> values_of(const HeaderList& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [key, value] : headers)
    if (key == name) out.push_back(value);
  return out;
}

std::string join(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

bool has_body(const Request& request, int status) {
  return request.method != "HEAD" && status != 204 && status != 304 && !(status >= 100 && status < 200);
}

}  // namespace

class HttpClient::Impl {
 public:
  Impl(ClientOptions options, std::shared_ptr<boost::asio::ssl::context> tls)
      : options_(std::move(options)),
        tls_(std::move(tls)),
        pool_(options_.max_connections, options_.idle_timeout),
        limit_(options_.max_connections),
        rng_(std::random_device{}()),
        budget_left_(options_.retry.run_budget) {}

  // One streamed request, across its attempts (send_streaming).
  struct Stream {
    const BodySink* sink = nullptr;
    const StreamIf* stream_if = nullptr;  // null or empty: every 2xx body is streamed
    std::size_t delivered = 0;            // decoded body bytes handed to the sink
    std::optional<cf::Error> refused;     // the sink's own error, returned as it is
  };

  cf::Result<Response> send(const Request& request, Stream* stream);
  Counters counters() const {
    return {requests_.load(), retries_.load(), connections_opened_.load(), bytes_received_.load()};
  }

 private:
  using Outcome = std::variant<Response, Failure>;

  Outcome attempt(const Request& request, const detail::WireRequest& wire, Stream* stream);
  Outcome exchange_once(const Request& request, const detail::WireRequest& wire, const Deadline& deadline,
                        bool fresh, bool& reused, Stream* stream);
  bool take_retry_budget();
  std::uint64_t random_bits();

  // Declared before pool_: pooled connections refer to the options and the TLS context.
  const ClientOptions options_;
  const std::shared_ptr<boost::asio::ssl::context> tls_;
  ConnectionPool pool_;
  detail::AdaptiveLimit limit_;  // requests in flight per origin, lowered when an origin is overloaded
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
  std::atomic<int> budget_left_;
  std::atomic<std::size_t> requests_{0}, retries_{0}, connections_opened_{0}, bytes_received_{0};
};

HttpClient::Impl::Outcome HttpClient::Impl::exchange_once(const Request& request,
                                                          const detail::WireRequest& wire,
                                                          const Deadline& deadline, bool fresh, bool& reused,
                                                          Stream* stream) {
  const std::string origin = request.url.origin();
  auto lease = pool_.acquire(origin, deadline, fresh);
  if (!lease)
    return Failure{"no free connection to this origin within the total timeout of " +
                       std::to_string(options_.total_timeout.count()) + " ms (max_connections " +
                       std::to_string(options_.max_connections) + ")",
                   false, false};
  std::unique_ptr<Connection> connection = std::move(lease->connection);
  if (connection && !request.local_addresses_allowed && connection->peer_is_local())
    connection.reset();  // opened for a request that allowed it: this one must resolve and check afresh
  reused = connection != nullptr;
  if (!connection) {
    connection = std::make_unique<Connection>(request.url,
                                              request.url.scheme == "https" ? tls_.get() : nullptr, options_);
    if (auto failure = connection->open(deadline, request.local_addresses_allowed)) {
      connection.reset();
      pool_.release(origin, nullptr);
      return *std::move(failure);
    }
    ++connections_opened_;
  }

  // Streaming: a 2xx body is decoded and handed to the sink as it arrives; other bodies are collected.
  std::unique_ptr<detail::StreamDecoder> decoder;
  std::string collected;
  const detail::StreamDecoder::Out to_sink = [stream](std::string_view piece) -> cf::Status {
    stream->delivered += piece.size();  // counted first: from here on the attempt may not be repeated
    auto st = (*stream->sink)(piece);
    if (!st) stream->refused = st.error();
    return st;
  };
  detail::BodyHandler handler;
  handler.start = [&](int status, const HeaderList& headers) -> std::optional<Failure> {
    if (status < 200 || status >= 300 || !has_body(request, status)) return std::nullopt;
    if (stream->stream_if && *stream->stream_if) {
      Response head;
      head.status = status;
      head.headers = headers;
      if (!(*stream->stream_if)(head)) return std::nullopt;
    }
    auto d = detail::StreamDecoder::create(join(values_of(headers, "content-encoding")),
                                           options_.max_decoded_bytes, true);
    if (!d) return Failure{d.error().message, false, false};
    decoder = std::move(*d);
    return std::nullopt;
  };
  handler.piece = [&](std::string_view piece) -> std::optional<Failure> {
    if (!decoder) {
      if (collected.size() + piece.size() > options_.max_unstreamed_bytes)
        return Failure{"response body (not streamed) exceeds the limit of " +
                           std::to_string(options_.max_unstreamed_bytes) + " bytes",
                       false, false};
      collected.append(piece);
      return std::nullopt;
    }
    if (auto st = decoder->feed(piece, to_sink); !st) return Failure{st.error().message, false, false};
    return std::nullopt;
  };
  // After body bytes reached the sink, an attempt cannot be repeated: the caller has used them.
  auto after_delivery = [stream](Failure failure) {
    if (stream && stream->delivered > 0) {
      failure.retryable = false;
      failure.before_response = false;
      failure.message += " (after " + std::to_string(stream->delivered) +
                         " bytes of the body had been delivered; not retried)";
    }
    return failure;
  };

  ++requests_;
  auto result = connection->exchange(wire, deadline, stream ? &handler : nullptr);
  bytes_received_ += connection->take_bytes_read();
  if (auto* failure = std::get_if<Failure>(&result)) {
    connection.reset();  // close before the slot is given to someone else
    pool_.release(origin, nullptr);
    return after_delivery(std::move(*failure));
  }
  auto raw = std::get<detail::RawResponse>(std::move(result));
  if (stream && !decoder) raw.body = std::move(collected);
  if (raw.keep_alive) {
    pool_.release(origin, std::move(connection));
  } else {
    connection->shutdown(deadline);
    connection.reset();
    pool_.release(origin, nullptr);
  }

  Response response;
  response.status = raw.status;
  response.headers = std::move(raw.headers);
  if (decoder) {
    if (auto st = decoder->finish(to_sink); !st)
      return after_delivery(Failure{st.error().message, false, false});
  } else if (has_body(request, raw.status)) {
    auto decoded =
        detail::decode_content(join(values_of(response.headers, "content-encoding")), std::move(raw.body),
                               stream ? std::min(options_.max_decoded_bytes, options_.max_unstreamed_bytes)
                                      : options_.max_decoded_bytes);
    if (!decoded) return Failure{decoded.error().message, false, false};
    response.body = std::move(*decoded);
  }
  return response;
}

HttpClient::Impl::Outcome HttpClient::Impl::attempt(const Request& request, const detail::WireRequest& wire,
                                                    Stream* stream) {
  const auto ticket = limit_.acquire(request.url.origin());
  const Deadline deadline(options_.total_timeout);
  bool reused = false;
  Outcome outcome = exchange_once(request, wire, deadline, false, reused, stream);
  const auto* failure = std::get_if<Failure>(&outcome);
  if (failure && failure->before_response && reused && detail::is_idempotent(request)) {
    // The pooled connection was closed by the server while idle, so the request never reached it: resend once
    // on a fresh connection. Not a retry: no backoff, no budget.
    outcome = exchange_once(request, wire, deadline, true, reused, stream);
  }
  using Answer = detail::AdaptiveLimit::Answer;
  const auto* response = std::get_if<Response>(&outcome);
  const Answer answer = !response                                            ? Answer::neither
                        : response->status == 429 || response->status == 503 ? Answer::overloaded
                                                                             : Answer::ok;
  if (const std::size_t now = limit_.release(ticket, answer); now && options_.log)
    options_.log("concurrency " + request.url.origin() + " " +
                 (answer == Answer::overloaded ? "lowered to " + std::to_string(now) + " after HTTP " +
                                                     std::to_string(response->status)
                                               : "raised to " + std::to_string(now)));
  return outcome;
}

bool HttpClient::Impl::take_retry_budget() {
  int left = budget_left_.load();
  while (left > 0)
    if (budget_left_.compare_exchange_weak(left, left - 1)) return true;
  return false;
}

std::uint64_t HttpClient::Impl::random_bits() {
  std::lock_guard lock(rng_mutex_);
  return rng_();
}

cf::Result<Response> HttpClient::Impl::send(const Request& request, Stream* stream) {
  // Errors name the method and the URL with query values masked; headers (Authorization) never appear.
  const std::string context = request.method + " " + request.url.redacted();
  if ((request.url.scheme != "http" && request.url.scheme != "https") || request.url.host.empty())
    return cf::make_error("request URL is not an absolute http(s) URL", context);
  // RELIABILITY T4: patient data and tokens travel over TLS only. Plain http is left for this machine (a
  // local proxy or sidecar that does TLS itself, the test servers), whatever named the URL: configuration,
  // a next link, a status or manifest URL, discovery.
  if (request.url.scheme == "http" && !request.url.is_loopback())
    return cf::make_error("refused plain http to a host other than this machine (use https)", context);
  auto wire = detail::build_request(request, options_);
  if (!wire) return cf::make_error(wire.error().message, context);

  const bool retry_allowed = detail::may_retry(request);
  const int max_attempts = options_.retry.max_attempts;
  for (int attempt_number = 1;; ++attempt_number) {
    Outcome outcome = attempt(request, *wire, stream);
    if (stream && stream->refused) return *stream->refused;  // the sink stopped the transfer
    std::string what;                                        // for the log line
    std::vector<std::string> retry_after;
    if (auto* response = std::get_if<Response>(&outcome)) {
      response->attempts = attempt_number;
      if (!retry_allowed || !detail::is_retryable_status(response->status)) return std::move(*response);
      what = "status=" + std::to_string(response->status);
      retry_after = values_of(response->headers, "retry-after");
    } else {
      const Failure& failure = std::get<Failure>(outcome);
      if (!retry_allowed || !failure.retryable)
        return cf::make_error(
            failure.message + (attempt_number > 1 ? " (attempt " + std::to_string(attempt_number) + ")" : ""),
            context);
      what = "error=\"" + failure.message + "\"";
    }

    // Out of attempts or budget: the last response (e.g. the final 503) or the last error goes to the caller.
    auto give_up = [&](const std::string& why) -> cf::Result<Response> {
      if (auto* response = std::get_if<Response>(&outcome)) return std::move(*response);
      return cf::make_error(std::get<Failure>(outcome).message + " (" + why + ")", context);
    };
    if (attempt_number >= max_attempts)
      return give_up(max_attempts == 1 ? "retries disabled"
                                       : "gave up after " + std::to_string(attempt_number) + " attempts");
    if (!take_retry_budget())
      return give_up("retry budget of " + std::to_string(options_.retry.run_budget) +
                     " for this client is spent" +
                     (attempt_number > 1 ? "; " + std::to_string(attempt_number) + " attempts" : ""));

    const detail::RetryDelay delay = detail::choose_delay(options_.retry, attempt_number, retry_after,
                                                          std::chrono::system_clock::now(), random_bits());
    ++retries_;
    if (options_.log)
      options_.log("retry " + request.method + " " + request.url.origin() + request.url.path() + " " + what +
                   " attempt=" + std::to_string(attempt_number) + "/" + std::to_string(max_attempts) +
                   " delay=" + std::to_string(delay.delay.count()) + "ms (" + delay.source + ")");
    std::this_thread::sleep_for(delay.delay);
  }
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

cf::Result<std::unique_ptr<HttpClient>> HttpClient::create(ClientOptions options) {
  if (auto status = validate(options); !status) return status.error();
  auto tls = detail::make_tls_context(options);
  if (!tls) return tls.error();
  return std::unique_ptr<HttpClient>(
      new HttpClient(std::make_unique<Impl>(std::move(options), std::move(*tls))));
}

cf::Result<Response> HttpClient::send(const Request& request) {
  return impl_->send(request, nullptr);
}

cf::Result<Response> HttpClient::send_streaming(const Request& request, const BodySink& sink,
                                                const StreamIf& stream_if) {
  Impl::Stream stream;
  stream.sink = &sink;
  stream.stream_if = &stream_if;
  return impl_->send(request, &stream);
}

HttpClient::Counters HttpClient::counters() const {
  return impl_->counters();
}

}  // namespace cf::transport
