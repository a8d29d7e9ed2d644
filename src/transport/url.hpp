#pragma once
// Absolute http(s) URLs as the client needs them: parsed strictly, normalised, comparable by origin.
// Server-supplied links (FHIR next links, Content-Location) go through parse()/resolve() before any request,
// so malformed authorities such as "host:443:443" (opensrp/fhircore #1714) are refused instead of guessed at.
#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cf::transport {

struct Url {
  std::string scheme;  // "http" or "https", lower case
  std::string host;    // lower case; IPv6 literals without brackets
  std::string port;    // always set, decimal without leading zeros ("443" when the URL had none)
  std::string target;  // path + optional "?query"; starts with '/'; fragment dropped; dot segments removed

  // Longer URLs are refused (servers have produced next links of several KB; 16 KiB leaves room for those).
  static constexpr std::size_t max_length = 16 * 1024;

  // Accepts absolute http/https URLs only. Refuses user information ("user:pw@"), bad ports (":443:443",
  // ":0", ":99999", ":8a"), whitespace, control and non-ASCII bytes, bad percent escapes and ambiguous
  // numeric hosts ("127.1", "0x7f.0.0.1"). Error messages never repeat the URL: it may carry PHI.
  static cf::Result<Url> parse(std::string_view text);

  std::string origin() const;  // "https://host" or "https://host:8443": the default port is omitted
  std::string str() const;     // origin() + target
  std::string path() const;    // target without the query
  // origin + path with every query value replaced by '*' ("?patient=*&_count=*"): safe for logs and errors.
  std::string redacted() const;
  std::string host_header() const;  // value of the Host header: host, plus ":port" unless default
  bool is_default_port() const;
  // The host is this machine: 127.0.0.0/8, ::1, ::ffff:127.x.x.x or "localhost".
  bool is_loopback() const;

  friend bool operator==(const Url&, const Url&) = default;
};

// Same scheme, host and port after normalisation (so "https://h" and "https://H:443/" are the same origin).
bool same_origin(const Url& a, const Url& b);

// Resolves a reference (absolute, scheme-relative, absolute-path, relative-path or query-only) against `base`
// as in RFC 3986 section 5.2, then validates the result like parse().
cf::Result<Url> resolve(const Url& base, std::string_view reference);

// Percent-encodes a query or form value: every byte but the RFC 3986 unreserved characters (A-Z a-z 0-9 - . _
// ~) and those listed in `keep` becomes %XX with upper-case hex digits.
std::string percent_encode(std::string_view value, std::string_view keep = {});

}  // namespace cf::transport
