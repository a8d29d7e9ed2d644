#include "transport/detail/connection.hpp"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <climits>
#include <memory>

#include "core/text.hpp"

namespace cf::transport::detail {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using clock = Deadline::clock;
using std::chrono::milliseconds;

// Slack after the attempt's deadline before drive() pulls the plug itself; the per-step timers, which never
// run past the deadline, normally fire first and give the precise message.
constexpr milliseconds kDriveSlack{200};
constexpr milliseconds kShutdownLimit{1000};

std::string ms(milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

bool is_ip_literal(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

Connection::Connection(const Url& url, ssl::context* tls, const ClientOptions& options)
    : host_(url.host), port_(url.port), options_(options) {
  // Beast reads as much as the read buffer has room for, at least 512 bytes: left to grow by itself it stays
  // that small (the parser empties it into the body pieces), and a 50-resource page took some 150 socket
  // reads, each with its timer set again.
  buffer_.reserve(kPieceBytes);
  if (tls)
    tls_.emplace(ioc_, *tls);
  else
    tcp_.emplace(ioc_);
}

Connection::~Connection() {
  close_socket();
}

Connection::TcpStream& Connection::lowest() {
  return tls_ ? beast::get_lowest_layer(*tls_) : *tcp_;
}

void Connection::close_socket() {
  beast::error_code ignored;
  lowest().socket().close(ignored);
}

// Runs the queued operation to completion. Should the per-step timers somehow not end it, the socket is
// closed shortly after the attempt's deadline, which completes every pending operation with an error.
bool Connection::drive(const Deadline& deadline) {
  ioc_.restart();
  ioc_.run_until(deadline.at() + kDriveSlack);
  if (ioc_.stopped()) return true;
  deadline_hit_ = true;
  close_socket();
  ioc_.run();
  return false;
}

namespace {
bool local_address(const boost::asio::ip::address& a) {
  if (a.is_v4()) {
    const auto v4 = a.to_v4();
    const auto b = v4.to_bytes();
    return v4.is_loopback() || v4.is_unspecified() || (b[0] == 169 && b[1] == 254);
  }
  const auto v6 = a.to_v6();
  if (v6.is_v4_mapped())
    return local_address(boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6));
  return v6.is_loopback() || v6.is_unspecified() || v6.is_link_local();
}
}  // namespace

std::optional<Failure> Connection::open(const Deadline& deadline, bool allow_local) {
  const auto start = clock::now();
  const auto connect_until = std::min(start + options_.connect_timeout, deadline.at());
  const bool deadline_first = deadline.at() < start + options_.connect_timeout;
  const std::string timeout_message =
      deadline_first ? "total timeout of " + ms(deadline.total()) + " reached while connecting"
                     : "connect timed out after " + ms(options_.connect_timeout);
  beast::error_code ec;
  tcp::resolver resolver(ioc_);
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(host_, port_, [&](const beast::error_code& e, tcp::resolver::results_type r) {
    ec = e;
    endpoints = std::move(r);
  });
  ioc_.restart();
  ioc_.run_until(connect_until);
  if (!ioc_.stopped()) {
    resolver.cancel();
    ioc_.run();
    return Failure{timeout_message + " (name resolution)", true, false};
  }
  if (ec) return Failure{"cannot resolve the host name: " + ec.message(), true, false};
  bool any_local = false;
  for (const auto& e : endpoints) any_local = any_local || local_address(e.endpoint().address());
  // Any local address, not only the first: a name that resolves to both would let the connect pick either.
  if (any_local && !allow_local)
    return Failure{"the host name resolves to a loopback, link-local or unspecified address: not contacted",
                   false, false};

  lowest().expires_at(connect_until);
  lowest().async_connect(endpoints, [&](const beast::error_code& e, const tcp::endpoint& peer) {
    ec = e;
    if (!e) peer_local_ = local_address(peer.address());
  });
  drive(deadline);
  if (ec == beast::error::timeout || deadline_hit_) return Failure{timeout_message, true, false};
  if (ec) return Failure{"cannot connect: " + ec.message(), true, false};
  beast::error_code ignored;
  lowest().socket().set_option(tcp::no_delay(true), ignored);
  if (tls_) return handshake(deadline);
  return std::nullopt;
}

std::optional<Failure> Connection::handshake(const Deadline& deadline) {
  SSL* ssl = tls_->native_handle();
  const bool ip = is_ip_literal(host_);
  // SNI; RFC 6066 forbids IP literals there. (SSL_set_tlsext_host_name() is a macro around this call.)
  if (!ip)
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host_.c_str()));
  bool verify = true;
#ifndef NDEBUG
  verify = !options_.insecure_skip_verify;  // compiled out of release builds (RELIABILITY.md T2)
#endif
  if (verify) {
    // OpenSSL checks the chain but not the name unless told which name to expect (RELIABILITY.md T1).
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int set = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str())
                       : X509_VERIFY_PARAM_set1_host(param, host_.c_str(), host_.size());
    if (set != 1) return Failure{"cannot set the expected TLS peer name", false, false};
    tls_->set_verify_mode(ssl::verify_peer);
  } else {
    tls_->set_verify_mode(ssl::verify_none);
  }

  beast::error_code ec;
  const auto step_start = clock::now();
  lowest().expires_after(deadline.step(options_.handshake_timeout));
  tls_->async_handshake(ssl::stream_base::client, [&](const beast::error_code& e) { ec = e; });
  drive(deadline);
  if (!ec && !deadline_hit_) return std::nullopt;
  const long verify_result = SSL_get_verify_result(ssl);
  if (verify_result != X509_V_OK)
    return Failure{
        std::string("TLS certificate verification failed: ") + X509_verify_cert_error_string(verify_result),
        false, false};
  if (ec == beast::error::timeout || deadline_hit_) {
    if (deadline.limits(options_.handshake_timeout, step_start))
      return Failure{"total timeout of " + ms(deadline.total()) + " reached during the TLS handshake", true,
                     false};
    return Failure{"TLS handshake timed out after " + ms(options_.handshake_timeout), true, false};
  }
  // Protocol-level refusals (no shared version or cipher, alerts) will not change on a retry; resets might.
  const bool tls_error = ec.category() == net::error::get_ssl_category();
  return Failure{"TLS handshake failed: " + ec.message(), !tls_error, false};
}

std::size_t Connection::take_bytes_read() {
  return std::exchange(bytes_read_, 0);
}

bool Connection::looks_alive() {
  if (buffer_.size() != 0) return false;  // bytes after the last response: the framing is off, do not reuse
  char byte = 0;
  const ssize_t n = ::recv(lowest().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;  // the server closed the idle connection
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  // Unread bytes: on plain HTTP an unsolicited response, so drop it. On TLS they may be a post-handshake
  // record (a TLS 1.3 session ticket) that the next read consumes; a close_notify there is caught by the
  // stale-connection resend in HttpClient.
  return tls_.has_value();
}

Failure Connection::io_failure(const beast::error_code& ec, const char* what, bool got_some,
                               clock::time_point step_start, const Deadline& deadline) const {
  Failure f{"", true, !got_some};
  const std::string during = std::string(" while ") + what;
  if (ec == beast::error::timeout || deadline_hit_) {
    f.before_response = false;  // a silent server is not a stale connection
    if (deadline.limits(options_.read_timeout, step_start))
      f.message = "total timeout of " + ms(deadline.total()) + " reached" + during;
    else
      f.message = "no data for " + ms(options_.read_timeout) + during + " (read timeout)";
  } else if (ec == http::error::end_of_stream || ec == net::error::eof) {
    f.message = "connection closed by the server before a response arrived";
  } else if (ec == http::error::partial_message) {
    f.message =
        "connection closed before the response was complete (body shorter than its Content-Length or "
        "chunked stream cut off)";
  } else if (ec == ssl::error::stream_truncated) {
    f.message =
        "TLS stream truncated (closed without close_notify)" + during + " before the response was complete";
  } else if (ec == net::error::connection_reset) {
    f.message = "connection reset by the server" + during;
  } else if (ec == net::error::broken_pipe) {
    f.message = "connection closed by the server" + during;
  } else if (ec == http::error::body_limit) {
    f = Failure{"response body exceeds the limit of " + std::to_string(options_.max_body_bytes) + " bytes",
                false, false};
  } else if (ec == http::error::header_limit) {
    f = Failure{
        "response header exceeds the limit of " + std::to_string(options_.max_header_bytes) + " bytes", false,
        false};
  } else if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    f = Failure{"malformed HTTP response: " + ec.message(), false, false};
  } else {
    f.message = "network error" + during + ": " + ec.message();
  }
  return f;
}

template <class Parser>
std::optional<Failure> Connection::read_some(Parser& parser, const Deadline& deadline, const char* what) {
  beast::error_code ec;
  std::size_t n = 0;
  const auto step_start = clock::now();
  lowest().expires_after(deadline.step(options_.read_timeout));
  with_stream([&](auto& stream) {
    http::async_read_some(stream, buffer_, parser, [&](const beast::error_code& e, std::size_t bytes) {
      ec = e;
      n = bytes;
    });
  });
  drive(deadline);
  bytes_read_ += n;
  if (ec == http::error::need_buffer) ec = {};  // buffer_body: the piece buffer is full, not an error
  if (ec || deadline_hit_) return io_failure(ec, what, parser.got_some(), step_start, deadline);
  return std::nullopt;
}

std::variant<RawResponse, Failure> Connection::exchange(const WireRequest& request, const Deadline& deadline,
                                                        const BodyHandler* handler) {
  beast::error_code ec;
  const auto write_start = clock::now();
  lowest().expires_after(deadline.step(options_.read_timeout));
  with_stream([&](auto& stream) {
    http::async_write(stream, request, [&](const beast::error_code& e, std::size_t) { ec = e; });
  });
  drive(deadline);
  if (ec || deadline_hit_) return io_failure(ec, "sending the request", false, write_start, deadline);

  // buffer_body: the parser copies body bytes into a buffer we supply, piece by piece (Beast's "incremental
  // read"), so the body is never held by the parser.
  using Parser = http::response_parser<http::buffer_body>;
  std::optional<Parser> parser;
  int status = 0;
  do {  // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one
    parser.emplace();
    parser->header_limit(
        static_cast<std::uint32_t>(std::min<std::size_t>(options_.max_header_bytes, UINT32_MAX)));
    parser->body_limit(options_.max_body_bytes);
    if (request.method() == http::verb::head) parser->skip(true);
    while (!parser->is_header_done())
      if (auto f = read_some(*parser, deadline, "waiting for the response header")) return *std::move(f);
    status = parser->get().result_int();
  } while (status >= 100 && status < 200 && status != 101);
  if (status == 101) return Failure{"unexpected 101 Switching Protocols", false, false};

  if (!parser->is_done() && !parser->chunked() && !parser->content_length() &&
      !options_.allow_close_delimited_body)
    return Failure{
        "response has neither Content-Length nor chunked encoding; a body that ends when the connection "
        "closes cannot be told apart from a truncated one",
        false, false};

  RawResponse out;
  out.status = status;
  for (const auto& field : parser->get())
    out.headers.emplace_back(cf::to_lower_ascii(field.name_string()), field.value());
  if (handler && handler->start)
    if (auto f = handler->start(status, out.headers)) return *std::move(f);
  if (!handler && parser->content_length())
    out.body.reserve(
        static_cast<std::size_t>(std::min<std::uint64_t>(*parser->content_length(), kPieceBytes * 64)));

  const auto piece = std::make_unique<char[]>(kPieceBytes);
  while (!parser->is_done()) {
    parser->get().body().data = piece.get();
    parser->get().body().size = kPieceBytes;
    auto failure = read_some(*parser, deadline, "reading the response body");
    if (failure) return *std::move(failure);
    const std::size_t n = kPieceBytes - parser->get().body().size;
    if (n == 0) continue;
    if (!handler)
      out.body.append(piece.get(), n);
    else if (auto f = handler->piece(std::string_view(piece.get(), n)))
      return *std::move(f);
  }
  out.keep_alive = parser->get().keep_alive() && !parser->get().need_eof();
  return out;
}

void Connection::shutdown(const Deadline& deadline) {
  if (tls_ && !deadline_hit_) {
    beast::error_code ignored;
    lowest().expires_after(deadline.step(kShutdownLimit));
    // The result is ignored on purpose. This runs only after a complete response (Content-Length or last
    // chunk received). A server that then closes TCP without its close_notify makes this report
    // ssl::error::stream_truncated, which is harmless at this point: nothing of the message is missing.
    // Truncation before the end of a message is an error, raised in exchange() (RELIABILITY.md T8;
    // boostorg/beast #38).
    tls_->async_shutdown([&](const beast::error_code& e) { ignored = e; });
    drive(deadline);
  }
  close_socket();
}

}  // namespace cf::transport::detail
