#include "transport/detail/request_builder.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "core/text.hpp"

namespace cf::transport::detail {
namespace {

namespace http = boost::beast::http;

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool safe_value(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool safe_target(std::string_view s) {
  if (s.empty() || s[0] != '/') return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  return true;
}

}  // namespace

cf::Result<WireRequest> build_request(const Request& request, const ClientOptions& options) {
  if (!is_token(request.method)) return cf::make_error("invalid HTTP method");
  if (!safe_target(request.url.target)) return cf::make_error("request target is not an absolute path");
  if (!safe_value(request.url.host) || request.url.host.empty())
    return cf::make_error("request URL has no valid host");

  WireRequest req;
  const http::verb verb = http::string_to_verb(request.method);
  if (verb == http::verb::unknown)
    req.method_string(request.method);
  else
    req.method(verb);
  req.target(request.url.target);
  req.version(11);
  req.set(http::field::host, request.url.host_header());
  req.set(http::field::user_agent, options.user_agent);
  req.set(http::field::accept_encoding, "gzip, deflate");

  for (const auto& [name, value] : request.headers) {
    if (!is_token(name)) return cf::make_error("request header name is not a valid token");
    if (!safe_value(value)) return cf::make_error("request header '" + name + "' contains CR, LF or NUL");
    for (std::string_view managed : {"host", "content-length", "transfer-encoding", "connection"})
      if (cf::iequals_ascii(name, managed))
        return cf::make_error("request header '" + name + "' is set by the client");
    if (cf::iequals_ascii(name, "user-agent") || cf::iequals_ascii(name, "accept-encoding"))
      req.set(name, value);
    else
      req.insert(name, value);
  }
  req.body() = request.body;
  req.prepare_payload();
  return req;
}

}  // namespace cf::transport::detail
