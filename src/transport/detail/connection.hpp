#pragma once
// One HTTP/1.1 connection, plain or TLS, with its own io_context. The asynchronous Beast operations are used
// only so that beast::tcp_stream can put a timer on every step (Beast's http_client_async_ssl example); each
// member function blocks until its step has finished. A Connection is used by one thread at a time.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "transport/client_options.hpp"
#include "transport/detail/deadline.hpp"
#include "transport/detail/failure.hpp"
#include "transport/detail/request_builder.hpp"
#include "transport/http_message.hpp"
#include "transport/url.hpp"

namespace cf::transport::detail {

struct RawResponse {
  int status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;    // as received, still content-encoded; empty when a BodyHandler took it
  bool keep_alive = false;
};

// Receives a response body in pieces as it arrives (still content-encoded). `start` sees the final status and
// headers before the first piece (also for an empty body); a Failure from either ends the exchange (the
// connection must then be closed).
struct BodyHandler {
  std::function<std::optional<Failure>(int status, const HeaderList& headers)> start;
  std::function<std::optional<Failure>(std::string_view piece)> piece;
};

class Connection {
 public:
  // `tls` is null for http URLs; it must outlive the connection.
  Connection(const Url& url, boost::asio::ssl::context* tls, const ClientOptions& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Resolves and connects (connect_timeout), then for https performs the TLS handshake with SNI, chain and
  // host-name verification (handshake_timeout).
  // `allow_local` false: refused before connecting when any resolved address is loopback, link-local or
  // unspecified (Request::local_addresses_allowed).
  std::optional<Failure> open(const Deadline& deadline, bool allow_local = true);
  // The connected peer is loopback, link-local or unspecified (a pooled connection is reused only for
  // requests that allow it).
  bool peer_is_local() const { return peer_local_; }
  // Writes the request and reads exactly one complete response; read_timeout bounds every silence. Without a
  // handler the body is collected in RawResponse::body; with one it goes to the handler in pieces of at most
  // kPieceBytes as it arrives, so memory does not grow with the body.
  std::variant<RawResponse, Failure> exchange(const WireRequest& request, const Deadline& deadline,
                                              const BodyHandler* handler = nullptr);
  static constexpr std::size_t kPieceBytes = 64 * 1024;
  // Orderly close after a response that ends the connection.
  void shutdown(const Deadline& deadline);
  // Checked before reuse: false when the server closed the idle connection or sent bytes nobody asked for.
  bool looks_alive();

  std::size_t take_bytes_read();
  Deadline::clock::time_point idle_since() const { return idle_since_; }
  void mark_idle() { idle_since_ = Deadline::clock::now(); }

 private:
  using TcpStream = boost::beast::tcp_stream;
  using TlsStream = boost::beast::ssl_stream<TcpStream>;

  template <class F>
  void with_stream(F&& f) {
    if (tls_)
      f(*tls_);
    else
      f(*tcp_);
  }
  TcpStream& lowest();
  bool drive(const Deadline& deadline);
  template <class Parser>
  std::optional<Failure> read_some(Parser& parser, const Deadline& deadline, const char* what);
  Failure io_failure(const boost::system::error_code& ec, const char* what, bool got_some,
                     Deadline::clock::time_point step_start, const Deadline& deadline) const;
  std::optional<Failure> handshake(const Deadline& deadline);
  void close_socket();

  boost::asio::io_context ioc_;  // declared first: destroyed after the streams that use it
  std::optional<TcpStream> tcp_;
  std::optional<TlsStream> tls_;
  boost::beast::flat_buffer buffer_;
  std::string host_;
  std::string port_;
  const ClientOptions& options_;
  std::size_t bytes_read_ = 0;
  bool deadline_hit_ = false;
  bool peer_local_ = false;
  Deadline::clock::time_point idle_since_{};
};

}  // namespace cf::transport::detail
