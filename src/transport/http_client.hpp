#pragma once
// HTTP/1.1 client for FHIR servers: per-origin keep-alive pool, verified TLS, four timeouts, size limits,
// gzip, bounded retries (RELIABILITY.md T1-T10). Redirects are returned, not followed: the caller decides
// whether the new origin may see its credentials.
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include "core/result.hpp"
#include "transport/client_options.hpp"
#include "transport/http_message.hpp"

namespace cf::transport {

class HttpClient {
 public:
  // Fails for invalid options, an unreadable ca_file, or insecure_skip_verify in a release build.
  static cf::Result<std::unique_ptr<HttpClient>> create(ClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request and returns the final response: any status, 3xx and 4xx included. Only GET and HEAD are
  // retried, on connection errors, resets, timeouts, truncated bodies and 408/429/500/502/503/504; when
  // retries run out, the last response (e.g. a 503) or the last error is returned. Errors name the method and
  // the URL with query values masked; no header values. Thread-safe: several threads may send at once.
  cf::Result<Response> send(const Request& request);

  // Receives a streamed body piece by piece (decoded, at most 64 KiB each; the view is valid during the call
  // only). An error return aborts the transfer: the connection is closed and that error is returned by
  // send_streaming() as it is.
  using BodySink = std::function<cf::Status(std::string_view piece)>;

  // Decides, from the final status and headers (Response::body still empty), whether a body is streamed.
  using StreamIf = std::function<bool(const Response& head)>;

  // Like send(), but the body of a 2xx response is not collected: it goes to `sink` in pieces as it arrives,
  // after Content-Encoding decoding, so memory does not grow with the body (the returned Response has an
  // empty body). Other responses (4xx, 5xx, 3xx), and 2xx ones that `stream_if` (when given) declines, are
  // returned as send() returns them, body included. The size
  // limits, timeouts and TLS rules are send()'s; total_timeout bounds the whole transfer, the sink's time
  // included. Retries follow send()'s policy only while no body byte has reached the sink; once one has, any
  // failure (a connection cut or reset, a body shorter than its Content-Length, a cut chunked stream, a
  // timeout, a damaged compressed stream, a size limit) is returned as an error naming the bytes delivered,
  // never retried, resumed or passed off as the end of the body.
  cf::Result<Response> send_streaming(const Request& request, const BodySink& sink,
                                      const StreamIf& stream_if = {});

  struct Counters {
    std::size_t requests = 0;  // requests written to a connection (attempts, stale-connection resends)
    std::size_t retries = 0;   // retries taken from the run budget
    std::size_t connections_opened = 0;  // TCP (and TLS) connections established
    std::size_t bytes_received = 0;      // response bytes as received (headers + body, before decoding)
  };
  Counters counters() const;

 private:
  class Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::transport
