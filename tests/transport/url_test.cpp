// Url::parse, origin checks and RFC 3986 reference resolution (RELIABILITY.md P2, P3; opensrp/fhircore
// #1714).
#include <boost/test/unit_test.hpp>

#include "transport/url.hpp"

using cf::transport::resolve;
using cf::transport::same_origin;
using cf::transport::Url;

BOOST_AUTO_TEST_SUITE(url)

struct ValidCase {
  const char* input;
  const char* scheme;
  const char* host;
  const char* port;
  const char* target;
  const char* origin;
};

BOOST_AUTO_TEST_CASE(parses_and_normalises_valid_urls) {
  const ValidCase cases[] = {
      {"https://example.org/fhir", "https", "example.org", "443", "/fhir", "https://example.org"},
      {"HTTPS://Example.ORG:443/fhir?x=1#frag", "https", "example.org", "443", "/fhir?x=1",
       "https://example.org"},
      {"http://127.0.0.1:8080", "http", "127.0.0.1", "8080", "/", "http://127.0.0.1:8080"},
      {"http://127.0.0.1:80/", "http", "127.0.0.1", "80", "/", "http://127.0.0.1"},
      {"https://h:0443/x", "https", "h", "443", "/x", "https://h"},
      {"https://h:/x", "https", "h", "443", "/x", "https://h"},
      {"http://[::1]:8443/a", "http", "::1", "8443", "/a", "http://[::1]:8443"},
      {"https://h/a/./b/../c", "https", "h", "443", "/a/c", "https://h"},
      {"https://h/%7Euser/%2e%2E/x", "https", "h", "443", "/x", "https://h"},
      {"https://h/a%2fb", "https", "h", "443", "/a%2Fb", "https://h"},
      {"https://h?q=1", "https", "h", "443", "/?q=1", "https://h"},
      {"https://h/Observation?code=http://loinc.org|2160-0&_count=50", "https", "h", "443",
       "/Observation?code=http://loinc.org|2160-0&_count=50", "https://h"},
      {"https://fhir.example:8443/r4/Patient?_getpages=abc&_getpagesoffset=20", "https", "fhir.example",
       "8443", "/r4/Patient?_getpages=abc&_getpagesoffset=20", "https://fhir.example:8443"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.input) {
      auto url = Url::parse(c.input);
      BOOST_REQUIRE_MESSAGE(url.ok(), (url.ok() ? "" : url.error().what()));
      BOOST_TEST(url->scheme == c.scheme);
      BOOST_TEST(url->host == c.host);
      BOOST_TEST(url->port == c.port);
      BOOST_TEST(url->target == c.target);
      BOOST_TEST(url->origin() == c.origin);
      BOOST_TEST(url->str() == std::string(c.origin) + c.target);
    }
  }
}

struct InvalidCase {
  std::string input;
  const char* message_part;
};

BOOST_AUTO_TEST_CASE(refuses_malformed_urls) {
  const InvalidCase cases[] = {
      {"https://localhost:443:443/fhir/Patient?page=2", "more than one ':'"},
      {"https://127.0.0.1:8443:8443/", "more than one ':'"},
      {"https://user:pw@host/", "user information"},
      {"https://@host/", "user information"},
      {"https://host@evil.example/", "user information"},
      {"ftp://host/", "unsupported URL scheme 'ftp'"},
      {"file:///etc/passwd", "unsupported URL scheme 'file'"},
      {"javascript://x", "unsupported URL scheme"},
      {"/relative/path", "not an absolute http(s) URL"},
      {"host/path", "not an absolute http(s) URL"},
      {"https:/host/path", "not an absolute http(s) URL"},
      {"", "not an absolute http(s) URL"},
      {"https://host/pa th", "whitespace or a control character"},
      {"https://ho st/", "whitespace or a control character"},
      {" https://host/", "whitespace or a control character"},
      {"https://host/a\r\nX-Injected: 1", "whitespace or a control character"},
      {std::string("https://host/a\0b", 16), "whitespace or a control character"},
      {"https://host/\xc3\xa9", "non-ASCII"},
      {"https://host\\@evil/", "character '\\'"},
      {"https://host/<script>", "character '<'"},
      {"https://host:99999/", "port is not a number"},
      {"https://host:0/", "port is not a number"},
      {"https://host:8a/", "port is not a number"},
      {"https://host:-1/", "port is not a number"},
      {"https://host:000000443/", "port is not a number"},
      {"https:///path", "no host"},
      {"https://:443/path", "no host"},
      {"https://127.1/", "canonical IPv4"},
      {"https://0x7f.0.0.1/", "canonical IPv4"},
      {"https://2130706433/", "canonical IPv4"},
      {"https://127.000.000.001/", "canonical IPv4"},
      {"https://256.0.0.1/", "canonical IPv4"},
      {"https://exa..mple/", "empty label"},
      {"https://example./", "empty label"},
      {"https://exa%41mple/", "host contains the character '%'"},
      {"https://host/%zz", "malformed percent escape"},
      {"https://host/%4", "malformed percent escape"},
      {"https://[::1/", "unterminated IPv6"},
      {"https://[zz::1]/", "invalid IPv6"},
      {"https://[::1]x/", "after the IPv6 literal"},
      {"https://h/" + std::string(Url::max_length, 'a'), "longer than 16384"},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.input) {
      auto url = Url::parse(c.input);
      BOOST_REQUIRE(!url.ok());
      BOOST_TEST(url.error().message.find(c.message_part) != std::string::npos, url.error().message);
    }
  }
}

BOOST_AUTO_TEST_CASE(error_messages_do_not_repeat_the_url) {
  auto url = Url::parse("https://host/Patient?identifier=CANARY-SSN-123 x");
  BOOST_REQUIRE(!url.ok());
  BOOST_TEST(url.error().what().find("CANARY") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(same_origin_compares_normalised_scheme_host_and_port) {
  struct Case {
    const char* a;
    const char* b;
    bool same;
  };
  const Case cases[] = {
      {"https://h/a", "https://H:443/b?x", true},
      {"http://127.0.0.1:80/a", "http://127.0.0.1/b", true},
      {"https://h/", "http://h/", false},
      {"https://h/", "https://h:8443/", false},
      {"http://h/", "http://h:443/", false},
      {"https://h/", "https://h2/", false},
      {"https://h.example/", "https://h.example.evil/", false},
      {"https://127.0.0.1:9000/", "https://127.0.0.2:9000/", false},
      {"https://127.0.0.1:9000/", "https://localhost:9000/", false},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.a << " vs " << c.b) {
      auto a = Url::parse(c.a);
      auto b = Url::parse(c.b);
      BOOST_REQUIRE(a.ok() && b.ok());
      BOOST_TEST(same_origin(*a, *b) == c.same);
      BOOST_TEST(same_origin(*b, *a) == c.same);
    }
  }
}

BOOST_AUTO_TEST_CASE(resolves_fhir_next_links) {
  const Url base = *Url::parse("https://fhir.example/r4/Patient?_count=2");
  struct Case {
    const char* reference;
    const char* expected;
    bool same_origin;
  };
  const Case cases[] = {
      {"Patient?page=2", "https://fhir.example/r4/Patient?page=2", true},
      {"/r4/Patient?page=3", "https://fhir.example/r4/Patient?page=3", true},
      {"?page=4", "https://fhir.example/r4/Patient?page=4", true},
      {"", "https://fhir.example/r4/Patient?_count=2", true},
      {"#frag", "https://fhir.example/r4/Patient?_count=2", true},
      {"../other", "https://fhir.example/other", true},
      {"./a/../b", "https://fhir.example/r4/b", true},
      {"https://fhir.example:443/r4/x", "https://fhir.example/r4/x", true},
      {"HTTPS://FHIR.example/r4/x", "https://fhir.example/r4/x", true},
      {"//other.example/x", "https://other.example/x", false},
      {"http://fhir.example/r4/x", "http://fhir.example/r4/x", false},
      {"https://fhir.example:8443/r4/x", "https://fhir.example:8443/r4/x", false},
      {"https://127.0.0.2/r4/x", "https://127.0.0.2/r4/x", false},
  };
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT(c.reference) {
      auto resolved = resolve(base, c.reference);
      BOOST_REQUIRE_MESSAGE(resolved.ok(), (resolved.ok() ? "" : resolved.error().what()));
      BOOST_TEST(resolved->str() == c.expected);
      BOOST_TEST(same_origin(base, *resolved) == c.same_origin);
    }
  }
}

BOOST_AUTO_TEST_CASE(resolves_rfc3986_examples) {
  // RFC 3986 section 5.4.1 and 5.4.2 (abnormal) examples, without the ones using other schemes.
  const Url base = *Url::parse("http://a/b/c/d;p?q");
  const std::pair<const char*, const char*> cases[] = {
      {"g", "http://a/b/c/g"},
      {"./g", "http://a/b/c/g"},
      {"g/", "http://a/b/c/g/"},
      {"/g", "http://a/g"},
      {"//g", "http://g/"},
      {"?y", "http://a/b/c/d;p?y"},
      {"g?y", "http://a/b/c/g?y"},
      {"#s", "http://a/b/c/d;p?q"},
      {"g#s", "http://a/b/c/g"},
      {";x", "http://a/b/c/;x"},
      {"g;x", "http://a/b/c/g;x"},
      {"", "http://a/b/c/d;p?q"},
      {".", "http://a/b/c/"},
      {"./", "http://a/b/c/"},
      {"..", "http://a/b/"},
      {"../", "http://a/b/"},
      {"../g", "http://a/b/g"},
      {"../..", "http://a/"},
      {"../../", "http://a/"},
      {"../../g", "http://a/g"},
      {"../../../g", "http://a/g"},
      {"../../../../g", "http://a/g"},
      {"/./g", "http://a/g"},
      {"/../g", "http://a/g"},
      {"g.", "http://a/b/c/g."},
      {".g", "http://a/b/c/.g"},
      {"g..", "http://a/b/c/g.."},
      {"..g", "http://a/b/c/..g"},
      {"./../g", "http://a/b/g"},
      {"./g/.", "http://a/b/c/g/"},
      {"g/./h", "http://a/b/c/g/h"},
      {"g/../h", "http://a/b/c/h"},
      {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
      {"g;x=1/../y", "http://a/b/c/y"},
      {"g?y/./x", "http://a/b/c/g?y/./x"},
      {"http:g", "error"},
  };
  for (const auto& [reference, expected] : cases) {
    BOOST_TEST_CONTEXT(reference) {
      auto resolved = resolve(base, reference);
      if (std::string(expected) == "error") {
        BOOST_TEST(
            !resolved.ok());  // RFC 3986 strict parsers treat "http:g" as absolute; it has no authority
        continue;
      }
      BOOST_REQUIRE_MESSAGE(resolved.ok(), (resolved.ok() ? "" : resolved.error().what()));
      BOOST_TEST(resolved->str() == expected);
    }
  }
}

BOOST_AUTO_TEST_CASE(resolve_refuses_bad_references) {
  const Url base = *Url::parse("https://fhir.example/r4/Patient");
  const std::pair<const char*, const char*> cases[] = {
      {"https://fhir.example:443:443/r4/Patient?page=2", "more than one ':'"},
      {"//fhir.example:443:443/x", "more than one ':'"},
      {"mailto:someone@example.org", "unsupported URL scheme 'mailto'"},
      {"Patient?page=2 3", "whitespace"},
      {"https://user@fhir.example/r4", "user information"},
  };
  for (const auto& [reference, message] : cases) {
    BOOST_TEST_CONTEXT(reference) {
      auto resolved = resolve(base, reference);
      BOOST_REQUIRE(!resolved.ok());
      BOOST_TEST(resolved.error().message.find(message) != std::string::npos, resolved.error().message);
    }
  }
}

BOOST_AUTO_TEST_CASE(redacted_form_masks_query_values) {
  BOOST_TEST(Url::parse("https://h/fhir/Patient?identifier=123-45-6789&_count=10")->redacted() ==
             "https://h/fhir/Patient?identifier=*&_count=*");
  BOOST_TEST(Url::parse("https://h:8443/x?flag&a=")->redacted() == "https://h:8443/x?flag&a=*");
  BOOST_TEST(Url::parse("https://h/x")->redacted() == "https://h/x");
  BOOST_TEST(Url::parse("https://h/x?a=1")->path() == "/x");
}

BOOST_AUTO_TEST_CASE(loopback_hosts_are_this_machine_only) {
  for (const char* u : {"http://127.0.0.1:8080/", "http://127.9.8.7/", "http://[::1]:99/",
                        "http://localhost/", "http://LOCALHOST/", "http://[::ffff:127.0.0.1]/"})
    BOOST_TEST(Url::parse(u)->is_loopback(), u);
  for (const char* u : {"http://128.0.0.1/", "http://10.0.0.1/", "http://0.0.0.0/", "http://[::]/",
                        "http://localhost.example.org/", "http://127.example.org/", "http://mylocalhost/",
                        "http://fhir.localhost/", "http://[fe80::1]/", "http://169.254.169.254/",
                        "http://[::ffff:10.0.0.1]/"})
    BOOST_TEST(!Url::parse(u)->is_loopback(), u);
}

BOOST_AUTO_TEST_CASE(host_header_omits_default_port) {
  BOOST_TEST(Url::parse("https://h:8443/")->host_header() == "h:8443");
  BOOST_TEST(Url::parse("https://h:443/")->host_header() == "h");
  BOOST_TEST(Url::parse("http://[::1]:8080/")->host_header() == "[::1]:8080");
}

BOOST_AUTO_TEST_CASE(percent_encode_keeps_unreserved_and_the_listed_characters) {
  using cf::transport::percent_encode;
  BOOST_TEST(percent_encode("AZaz09-._~") == "AZaz09-._~");
  BOOST_TEST(percent_encode("http://loinc.org|718-7, x") == "http%3A%2F%2Floinc.org%7C718-7%2C%20x");
  BOOST_TEST(percent_encode("http://loinc.org|718-7,x", ":/,") == "http://loinc.org%7C718-7,x");
  BOOST_TEST(percent_encode("a+b=c&d") == "a%2Bb%3Dc%26d");
  BOOST_TEST(percent_encode("\xc3\xa9\x01") == "%C3%A9%01");   // bytes, upper-case hex
  BOOST_TEST(percent_encode("\xc3\xa9", "\xc3") == "%C3%A9");  // only ASCII can be kept
  BOOST_TEST(percent_encode("") == "");
}

BOOST_AUTO_TEST_SUITE_END()
