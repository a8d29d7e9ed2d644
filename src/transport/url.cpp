#include "transport/url.hpp"

#include <arpa/inet.h>

#include <optional>
#include <vector>

#include "core/text.hpp"

namespace cf::transport {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_unreserved(char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  return (c | 0x20) - 'a' + 10;
}
bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// Bytes refused anywhere in a URL or reference. The offending text is not echoed: it may be PHI.
std::optional<std::string> check_characters(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::string at = " (offset " + std::to_string(i) + ")";
    if (c <= 0x20 || c == 0x7f) return "URL contains whitespace or a control character" + at;
    if (c >= 0x80) return "URL contains a non-ASCII byte; it must be percent-encoded" + at;
    if (c == '\\' || c == '"' || c == '<' || c == '>' || c == '`')
      return std::string("URL contains the character '") + static_cast<char>(c) + "'" + at;
    if (c == '%' && (i + 2 >= s.size() || !is_hex(s[i + 1]) || !is_hex(s[i + 2])))
      return "URL contains a malformed percent escape" + at;
  }
  return std::nullopt;
}

bool valid_scheme(std::string_view s) {
  if (s.empty() || !is_alpha(s[0])) return false;
  for (char c : s)
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  return true;
}

// Syntax-based normalisation of a path (RFC 3986 section 6.2.2): escapes of unreserved characters are decoded
// ("%2E" is "."), other escapes upper-cased. Done before dot-segment removal so "%2e%2e" cannot slip past it.
std::string normalize_percent(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {  // check_characters() guarantees two hex digits follow
      const char decoded = static_cast<char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
      if (is_unreserved(decoded)) {
        out += decoded;
      } else {
        out += '%';
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 1])));
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(path[i + 2])));
      }
      i += 2;
    } else {
      out += path[i];
    }
  }
  return out;
}

// RFC 3986 section 5.2.4 for a path starting with '/'.
std::string remove_dot_segments(std::string_view path) {
  const std::vector<std::string_view> segments = cf::split(path.substr(1), '/');
  std::vector<std::string_view> out;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const bool last = i + 1 == segments.size();
    if (segments[i] == ".") {
      if (last) out.emplace_back();
    } else if (segments[i] == "..") {
      if (!out.empty()) out.pop_back();
      if (last) out.emplace_back();
    } else {
      out.push_back(segments[i]);
    }
  }
  std::string result;
  for (std::string_view s : out) {
    result += '/';
    result += s;
  }
  return result.empty() ? "/" : result;
}

bool canonical_ipv4(std::string_view host) {
  const std::vector<std::string_view> parts = cf::split(host, '.');
  if (parts.size() != 4) return false;
  for (std::string_view p : parts) {
    if (!all_digits(p) || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return false;
    if (std::stoi(std::string(p)) > 255) return false;
  }
  return true;
}

std::optional<std::string> check_reg_name(std::string_view host) {
  if (host.empty()) return "URL has no host";
  if (host.size() > 253) return "URL host name is longer than 253 characters";
  for (char c : host)
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_' && c != '~')
      return std::string("URL host contains the character '") + c + "'";
  const std::vector<std::string_view> labels = cf::split(host, '.');
  for (std::string_view label : labels) {
    if (label.empty()) return "URL host has an empty label";
    if (label.size() > 63) return "URL host has a label longer than 63 characters";
  }
  // Hosts such as "127.1", "2130706433" or "0x7f.0.0.1" mean different things to different resolvers; only
  // the canonical dotted quad is accepted as an IPv4 address.
  const std::string_view last = labels.back();
  const bool numeric =
      all_digits(last) || (last.size() > 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X'));
  if (numeric && !canonical_ipv4(host))
    return "URL host is a numeric address but not a canonical IPv4 address";
  return std::nullopt;
}

std::string default_port(std::string_view scheme) {
  return scheme == "https" ? "443" : "80";
}

struct Authority {
  std::string host;
  std::string port;
};

cf::Result<Authority> parse_authority(std::string_view auth, std::string_view scheme) {
  if (auth.find('@') != std::string_view::npos)
    return cf::make_error("URL contains user information ('user@host'); credentials in URLs are refused");
  if (auth.empty()) return cf::make_error("URL has no host");
  Authority out;
  std::string_view port_text;
  bool has_port = false;
  if (auth[0] == '[') {
    const std::size_t close = auth.find(']');
    if (close == std::string_view::npos) return cf::make_error("URL has an unterminated IPv6 literal");
    out.host = cf::to_lower_ascii(auth.substr(1, close - 1));
    in6_addr addr{};
    if (out.host.find('%') != std::string::npos || inet_pton(AF_INET6, out.host.c_str(), &addr) != 1)
      return cf::make_error("URL has an invalid IPv6 literal");
    const std::string_view rest = auth.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') return cf::make_error("URL has characters after the IPv6 literal");
    has_port = !rest.empty();
    if (has_port) port_text = rest.substr(1);
  } else {
    const std::size_t colon = auth.find(':');
    out.host = cf::to_lower_ascii(auth.substr(0, colon));
    if (auto bad = check_reg_name(out.host)) return cf::make_error(*bad);
    has_port = colon != std::string_view::npos;
    if (has_port) port_text = auth.substr(colon + 1);
  }
  if (port_text.find(':') != std::string_view::npos)
    return cf::make_error("URL port is malformed (more than one ':', as in 'host:443:443')");
  if (!has_port || port_text.empty()) {
    out.port = default_port(scheme);
    return out;
  }
  if (!all_digits(port_text) || port_text.size() > 5)
    return cf::make_error("URL port is not a number from 1 to 65535");
  const int port = std::stoi(std::string(port_text));
  if (port < 1 || port > 65535) return cf::make_error("URL port is not a number from 1 to 65535");
  out.port = std::to_string(port);
  return out;
}

std::string host_for_url(const Url& url) {
  return url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
}

std::string effective_port(const Url& url) {
  return url.port.empty() ? default_port(url.scheme) : url.port;
}

}  // namespace

cf::Result<Url> Url::parse(std::string_view text) {
  if (text.size() > max_length)
    return cf::make_error("URL is longer than " + std::to_string(max_length) + " characters");
  if (auto bad = check_characters(text)) return cf::make_error(*bad);
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || !valid_scheme(text.substr(0, colon)))
    return cf::make_error("not an absolute http(s) URL");
  Url url;
  url.scheme = cf::to_lower_ascii(text.substr(0, colon));
  if (url.scheme != "http" && url.scheme != "https")
    return cf::make_error("unsupported URL scheme '" + url.scheme.substr(0, 16) + "' (only http and https)");
  if (text.substr(colon + 1, 2) != "//") return cf::make_error("not an absolute http(s) URL");
  const std::string_view rest = text.substr(colon + 3);
  const std::size_t authority_end = rest.find_first_of("/?#");
  auto authority = parse_authority(rest.substr(0, authority_end), url.scheme);
  if (!authority) return authority.error();
  url.host = std::move(authority->host);
  url.port = std::move(authority->port);

  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  tail = tail.substr(0, tail.find('#'));
  const std::size_t query_start = tail.find('?');
  const std::string_view path = tail.substr(0, query_start);
  const std::string_view query =
      query_start == std::string_view::npos ? std::string_view{} : tail.substr(query_start);
  url.target = remove_dot_segments(path.empty() ? std::string("/") : normalize_percent(path));
  url.target += query;
  return url;
}

bool Url::is_loopback() const {
  // Only "localhost" among names: another name under .localhost should resolve to this machine (RFC 6761),
  // but a resolver that does not enforce it would send plain http wherever DNS says.
  if (host == "localhost") return true;
  const std::string_view h = std::string_view(host).starts_with("::ffff:") ? std::string_view(host).substr(7)
                                                                           : std::string_view(host);
  // parse() leaves a host of digits and dots only when it is a dotted quad.
  const bool ipv4 = h.find_first_not_of("0123456789.") == std::string_view::npos;
  return (ipv4 && h.starts_with("127.")) || h == "::1";
}

bool Url::is_default_port() const {
  return effective_port(*this) == default_port(scheme);
}

std::string Url::origin() const {
  return scheme + "://" + host_for_url(*this) + (is_default_port() ? "" : ":" + effective_port(*this));
}

std::string Url::str() const {
  return origin() + target;
}

std::string Url::path() const {
  return target.substr(0, target.find('?'));
}

std::string Url::host_header() const {
  return host_for_url(*this) + (is_default_port() ? "" : ":" + effective_port(*this));
}

std::string Url::redacted() const {
  std::string out = origin() + path();
  const std::size_t q = target.find('?');
  if (q == std::string::npos) return out;
  out += '?';
  bool first = true;
  for (std::string_view param : cf::split(std::string_view(target).substr(q + 1), '&')) {
    if (!first) out += '&';
    first = false;
    const std::size_t eq = param.find('=');
    out += param.substr(0, eq);
    if (eq != std::string_view::npos) out += "=*";
  }
  return out;
}

bool same_origin(const Url& a, const Url& b) {
  return cf::iequals_ascii(a.scheme, b.scheme) && cf::iequals_ascii(a.host, b.host) &&
         effective_port(a) == effective_port(b);
}

cf::Result<Url> resolve(const Url& base, std::string_view reference) {
  if (reference.size() > Url::max_length)
    return cf::make_error("URL is longer than " + std::to_string(Url::max_length) + " characters");
  if (auto bad = check_characters(reference)) return cf::make_error(*bad);
  const std::size_t colon = reference.find(':');
  const std::size_t delimiter = reference.find_first_of("/?#");
  if (colon != std::string_view::npos && (delimiter == std::string_view::npos || colon < delimiter) &&
      valid_scheme(reference.substr(0, colon)))
    return Url::parse(reference);  // has a scheme: absolute
  if (reference.substr(0, 2) == "//") return Url::parse(base.scheme + ":" + std::string(reference));

  reference = reference.substr(0, reference.find('#'));
  const std::size_t query_start = reference.find('?');
  const std::string_view path = reference.substr(0, query_start);
  const std::string_view query =
      query_start == std::string_view::npos ? std::string_view{} : reference.substr(query_start);
  const std::string base_path = base.path().empty() ? "/" : base.path();
  std::string target;
  if (path.empty()) {
    target =
        base_path + std::string(query_start == std::string_view::npos ? base.target.substr(base.path().size())
                                                                      : std::string(query));
  } else if (path[0] == '/') {
    target = std::string(path) + std::string(query);
  } else {
    target = base_path.substr(0, base_path.rfind('/') + 1) + std::string(path) + std::string(query);
  }
  return Url::parse(base.origin() + target);
}

std::string percent_encode(std::string_view value, std::string_view keep) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (const char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(ch) || (c < 0x80 && keep.find(ch) != std::string_view::npos)) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace cf::transport
