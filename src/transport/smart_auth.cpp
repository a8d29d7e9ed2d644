#include "transport/smart_auth.hpp"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>

#include "core/text.hpp"
#include "json/json.hpp"
#include "transport/detail/jwt_signer.hpp"
#include "transport/detail/retry_schedule.hpp"
#include "transport/retry_after.hpp"
#include "transport/url.hpp"

namespace cf::transport {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr std::string_view kAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
// A token request that could not connect, or was answered 408, 429 or 5xx (an overloaded or restarting
// authorization server), is sent again with a new assertion (RELIABILITY T6, A2): 3 attempts in all.
constexpr int kTokenAttempts = 3;
constexpr std::chrono::milliseconds kTokenRetryDelays[] = {100ms, 400ms};
constexpr std::size_t kMaxTokenChars = 16 * 1024;
constexpr long long kMaxExpiresIn =
    24 * 3600;  // a longer claimed lifetime is capped (401 handling covers the rest)
constexpr std::chrono::seconds kSkewHint{60};

std::vector<std::string> split_scopes(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// RFC 6749 appendix A.4: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
bool valid_scope_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  return true;
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

std::string join(const std::vector<std::string>& items, std::string_view sep = " ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(sep)) + i;
  return out;
}

bool is_base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '+' || c == '/' || c == '=';
}

// Server text shown to the user. An auth server may echo what it received; anything that looks like a token,
// an assertion segment or key material (a run of 40+ base64/base64url characters) is replaced, as is any
// exact copy of the secrets passed in, and control characters are removed (log forging).
std::string redact_server_text(std::string_view text, const std::vector<std::string_view>& secrets) {
  std::string s(text.substr(0, 2000));
  for (std::string_view secret : secrets) {
    if (secret.size() < 8) continue;
    for (auto p = s.find(secret); p != std::string::npos; p = s.find(secret, p))
      s.replace(p, secret.size(), "[redacted]");
  }
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = i;
    while (j < s.size() && is_base64url_char(s[j])) ++j;
    if (j - i >= 40) {
      out += "[redacted]";
      i = j;
    } else if (j > i) {
      out.append(s, i, j - i);
      i = j;
    } else {
      out += s[i++];
    }
  }
  return cf::sanitize_for_log(out, 200);
}

// A non-negative whole number of seconds from a JSON number ("300", "300.0") or a digit string; nullopt
// otherwise.
std::optional<long long> seconds_value(const json::Value* v) {
  std::string_view text;
  if (auto n = json::number_text(v))
    text = *n;
  else if (auto s = json::string(v))
    text = *s;
  else
    return std::nullopt;
  const auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  if (dot != std::string_view::npos && text.find_first_not_of('0', dot + 1) != std::string_view::npos)
    return std::nullopt;  // fractional seconds: not what RFC 6749 describes
  if (whole.empty() || whole.size() > 12 || whole.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  return std::stoll(std::string(whole));
}

std::string content_type_of(const Response& r) {
  const std::string ct = r.header("content-type");
  return ct.empty() ? "no Content-Type" : "Content-Type " + cf::sanitize_for_log(ct, 60);
}

// The connection was never established (refused, unreachable, name resolution, connect timeout): the token
// request cannot have reached the server, so sending a fresh one is safe. Matches the messages of
// detail::Connection::open.
bool is_connect_failure(const cf::Error& e) {
  const std::string& m = e.message;
  return m.rfind("cannot connect:", 0) == 0 || m.rfind("cannot resolve the host name", 0) == 0 ||
         m.rfind("connect timed out", 0) == 0 || m.find("reached while connecting") != std::string::npos;
}

}  // namespace

class SmartAuth::Impl {
 public:
  Impl(SmartOptions options, std::shared_ptr<HttpClient> client, std::unique_ptr<detail::JwtSigner> signer,
       Url base)
      : options_(std::move(options)),
        client_(std::move(client)),
        signer_(std::move(signer)),
        base_(std::move(base)),
        requested_scopes_(split_scopes(options_.scopes)) {}

  ~Impl() { detail::wipe(token_); }

  Status set_up();  // token endpoint from configuration or discovery

  cf::Result<std::string> authorization() {
    std::lock_guard lock(mu_);
    if (usable(steady::now())) return "Bearer " + token_;
    return fetch_token();
  }

  cf::Result<std::string> reauthorize(std::optional<std::string_view> rejected) {
    std::lock_guard lock(mu_);
    if (rejected && !token_.empty() && *rejected != "Bearer " + token_ && usable(steady::now()))
      return "Bearer " + token_;  // another thread already replaced the refused token
    log("smart: the FHIR server refused the access token (401); requesting a new one");
    detail::wipe(token_);
    return fetch_token();
  }

  std::vector<std::string> granted_scopes() const {
    std::lock_guard lock(mu_);
    return granted_;
  }
  Counters counters() const {
    std::lock_guard lock(mu_);
    return counters_;
  }

  const std::string& token_endpoint() const { return token_endpoint_text_; }
  const std::string& algorithm() const { return signer_->algorithm(); }

 private:
  void log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }
  std::string endpoint_context() const { return "SMART token endpoint " + token_url_.redacted(); }

  bool usable(steady::time_point now) const {
    if (token_.empty()) return false;
    const auto margin = std::min<steady::duration>(options_.refresh_margin, lifetime_ / 2);
    return now + margin < expires_at_;
  }

  cf::Result<Url> check_token_endpoint(std::string_view text, const std::string& source, bool configured);
  cf::Result<std::string> discover();
  cf::Result<std::string> build_assertion();
  cf::Result<std::string> fetch_token();
  cf::Result<std::string> accept_token_response(const Response& resp, steady::time_point sent_at,
                                                const std::string& assertion);
  cf::Error token_error(const Response& resp, const std::string& assertion) const;

  const SmartOptions options_;
  const std::shared_ptr<HttpClient> client_;
  const std::unique_ptr<detail::JwtSigner> signer_;
  const Url base_;
  const std::vector<std::string> requested_scopes_;
  // Set once by set_up(), read-only afterwards.
  Url token_url_;
  std::string token_endpoint_text_;
  std::vector<std::string> advertised_algs_;  // empty when the discovery document lists none

  mutable std::mutex mu_;  // guards everything below; held during a token request so that callers share it
  std::string token_;
  steady::time_point expires_at_{};
  steady::duration lifetime_{};
  std::vector<std::string> granted_;
  Counters counters_;
};

cf::Result<Url> SmartAuth::Impl::check_token_endpoint(std::string_view text, const std::string& source,
                                                      bool configured) {
  auto url = Url::parse(text);
  if (!url)
    return cf::make_error(
        "the token endpoint from " + source + " is not an absolute http(s) URL: " + url.error().message,
        "SMART Backend Services");
  if (same_origin(*url, base_)) return url;
  if (url->scheme == "https") {
    if (configured) return url;
    const bool listed =
        std::any_of(options_.token_origins.begin(), options_.token_origins.end(), [&](const std::string& o) {
          auto allowed = Url::parse(o);
          return allowed && same_origin(*allowed, *url);
        });
    if (listed) {
      log("smart: note: the token endpoint " + url->redacted() + " (from " + source +
          ") is on another origin than the FHIR server " + base_.origin() +
          "; accepted: its origin is listed");
      return url;
    }
    return cf::make_error("refusing the token endpoint " + url->redacted() + " from " + source +
                              ": it is on another origin than the FHIR server (" + base_.origin() +
                              "); if the hospital's authorisation server is there, list " + url->origin() +
                              " in smart_token_origins or set smart_token_endpoint",
                          "SMART Backend Services");
  }
  return cf::make_error("refusing the token endpoint " + url->redacted() + " from " + source +
                            ": plain http on another origin than the FHIR server (" + base_.origin() +
                            ") would expose the client assertion and the access token; it must use https",
                        "SMART Backend Services");
}

cf::Result<std::string> SmartAuth::Impl::discover() {
  std::string path = base_.path();
  while (!path.empty() && path.back() == '/') path.pop_back();
  auto url = resolve(base_, path + "/.well-known/smart-configuration");
  if (!url) return cf::make_error(url.error().message, "SMART discovery");
  const std::string context = "GET " + url->redacted();
  Request request;
  request.url = *url;
  request.headers.emplace_back("Accept", "application/json");
  auto resp = client_->send(request);
  if (!resp) return cf::make_error("cannot fetch the SMART configuration: " + resp.error().message, context);
  if (resp->status != 200)
    return cf::make_error(
        "the SMART configuration answered HTTP " + std::to_string(resp->status) +
            (resp->status >= 300 && resp->status < 400 ? " (redirects are not followed)" : "") +
            "; give the token endpoint explicitly if the server does not publish one",
        context);
  if (resp->body.size() > SmartAuth::max_discovery_bytes)
    return cf::make_error("the SMART configuration is " + std::to_string(resp->body.size()) +
                              " bytes, more than the " + std::to_string(SmartAuth::max_discovery_bytes) +
                              " allowed",
                          context);
  json::Document doc;
  json::ParseError err;
  if (!json::parse(resp->body, doc, err) || !doc.IsObject())
    return cf::make_error("the SMART configuration is not a JSON object (" + content_type_of(*resp) + ")",
                          context);
  auto endpoint = json::string(json::member(doc, "token_endpoint"));
  if (!endpoint || endpoint->empty())
    return cf::make_error("the SMART configuration has no token_endpoint", context);

  const std::string& alg = signer_->algorithm();
  if (const auto* algs = json::member(doc, "token_endpoint_auth_signing_alg_values_supported");
      json::is_array(algs)) {
    json::for_each(algs, [&](std::size_t, const json::Value& v) {
      if (auto s = json::string(&v)) advertised_algs_.push_back(cf::sanitize_for_log(*s, 20));
    });
    if (std::find(advertised_algs_.begin(), advertised_algs_.end(), alg) == advertised_algs_.end())
      return cf::make_error(
          "the server's token_endpoint_auth_signing_alg_values_supported does not list " + alg +
              " (it lists: " + (advertised_algs_.empty() ? "nothing" : join(advertised_algs_, ", ")) +
              "); register a key for one of those and set smart_alg",
          context);
  } else {
    log("smart: note: the SMART configuration does not list "
        "token_endpoint_auth_signing_alg_values_supported");
  }
  auto lacks = [&](std::string_view member, std::string_view wanted) {
    const auto* list = json::member(doc, member);
    if (!json::is_array(list)) return false;
    bool found = false;
    json::for_each(list,
                   [&](std::size_t, const json::Value& v) { found = found || json::string(&v) == wanted; });
    return !found;
  };
  if (lacks("token_endpoint_auth_methods_supported", "private_key_jwt"))
    log("smart: warning: the SMART configuration does not list private_key_jwt among the token endpoint's "
        "authentication methods");
  if (lacks("grant_types_supported", "client_credentials"))
    log("smart: warning: the SMART configuration does not list the client_credentials grant");
  return std::string(*endpoint);
}

Status SmartAuth::Impl::set_up() {
  std::string text = options_.token_endpoint;
  std::string source = "the configuration";
  if (text.empty()) {
    auto discovered = discover();
    if (!discovered) return discovered.error();
    text = std::move(*discovered);
    source = "the SMART configuration of " + base_.origin();
  }
  auto url = check_token_endpoint(text, source, !options_.token_endpoint.empty());
  if (!url) return url.error();
  token_url_ = std::move(*url);
  token_endpoint_text_ = std::move(text);
  log("smart: token endpoint " + token_url_.redacted() + " (from " + source + "), client assertion " +
      signer_->algorithm() + " with a " + signer_->key_description() + " key");
  return Status::success();
}

cf::Result<std::string> SmartAuth::Impl::build_assertion() {
  auto jti = detail::random_hex(16);  // 128 random bits, new for every token request (A2)
  if (!jti) return jti.error();
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  json::Writer header;
  header.begin_object()
      .key("alg")
      .str(signer_->algorithm())
      .key("typ")
      .str("JWT")
      .key("kid")
      .str(options_.key_id)
      .end_object();
  json::Writer claims;
  claims.begin_object()
      .key("iss")
      .str(options_.client_id)
      .key("sub")
      .str(options_.client_id)
      .key("aud")
      .str(token_endpoint_text_)
      .key("exp")
      .integer(now + SmartAuth::assertion_lifetime.count())
      .key("iat")
      .integer(now)
      .key("jti")
      .str(*jti)
      .end_object();
  return signer_->sign(header.view(), claims.view());
}

cf::Result<std::string> SmartAuth::Impl::fetch_token() {
  for (int attempt = 1;; ++attempt) {
    auto assertion = build_assertion();
    if (!assertion) return assertion.error();
    Request request;
    request.method = "POST";
    request.url = token_url_;
    request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    request.headers.emplace_back("Accept", "application/json");
    request.body = "grant_type=client_credentials&scope=" + percent_encode(options_.scopes) +
                   "&client_assertion_type=" + percent_encode(kAssertionType) +
                   "&client_assertion=" + percent_encode(*assertion);
    const auto sent_at = steady::now();
    ++counters_.token_requests;
    auto resp = client_->send(request);
    detail::wipe(request.body);
    auto pause = [&](const std::string& what) {
      const auto delay = kTokenRetryDelays[attempt - 1];
      log("smart: token request " + what + " (attempt " + std::to_string(attempt) + "/" +
          std::to_string(kTokenAttempts) + "); retrying in " + std::to_string(delay.count()) +
          " ms with a new assertion");
      std::this_thread::sleep_for(delay);
    };
    if (!resp) {
      const bool again = is_connect_failure(resp.error()) && attempt < kTokenAttempts;
      detail::wipe(*assertion);
      if (!again)
        return cf::make_error("cannot reach the token endpoint: " + resp.error().message +
                                  (attempt > 1 ? " (" + std::to_string(attempt) + " attempts)" : ""),
                              endpoint_context());
      pause("could not connect: " + resp.error().message);
      continue;
    }
    if (detail::is_retryable_status(resp->status) && attempt < kTokenAttempts) {
      detail::wipe(*assertion);
      detail::wipe(resp->body);
      pause("answered HTTP " + std::to_string(resp->status));
      continue;
    }
    auto token = accept_token_response(*resp, sent_at, *assertion);
    detail::wipe(*assertion);
    detail::wipe(resp->body);
    return token;
  }
}

cf::Result<std::string> SmartAuth::Impl::accept_token_response(const Response& resp,
                                                               steady::time_point sent_at,
                                                               const std::string& assertion) {
  if (resp.body.size() > SmartAuth::max_token_response_bytes)
    return cf::make_error("the token response (HTTP " + std::to_string(resp.status) + ") is " +
                              std::to_string(resp.body.size()) + " bytes, more than the " +
                              std::to_string(SmartAuth::max_token_response_bytes) + " allowed; refused",
                          endpoint_context());
  if (resp.status != 200) return token_error(resp, assertion);
  json::Document doc;
  json::ParseError err;
  if (!json::parse(resp.body, doc, err) || !doc.IsObject())
    return cf::make_error(
        "the token response (HTTP 200, " + content_type_of(resp) + ") is not a JSON object; refused",
        endpoint_context());
  const auto access_token = json::string(json::member(doc, "access_token"));
  if (!access_token || access_token->empty())
    return cf::make_error("the token response has no access_token", endpoint_context());
  if (access_token->size() > kMaxTokenChars || !printable_ascii(*access_token) ||
      access_token->find(' ') != std::string_view::npos)
    return cf::make_error("the token response's access_token is not a usable bearer token (length " +
                              std::to_string(access_token->size()) + ", or spaces or control characters)",
                          endpoint_context());
  const auto token_type = json::string(json::member(doc, "token_type"));
  if (!token_type || !cf::iequals_ascii(*token_type, "bearer"))
    return cf::make_error("the token response's token_type is '" +
                              cf::sanitize_for_log(token_type.value_or("(missing)"), 30) + "', not Bearer",
                          endpoint_context());

  long long expires_in = SmartAuth::default_expires_in.count();
  const json::Value* expires = json::member(doc, "expires_in");
  if (!expires) {
    log("smart: warning: the token response has no expires_in; assuming " + std::to_string(expires_in) +
        " s");
  } else if (auto seconds = seconds_value(expires); !seconds || *seconds <= 0) {
    log("smart: warning: the token response's expires_in is not a positive number of seconds; assuming " +
        std::to_string(expires_in) + " s");
  } else if (*seconds > kMaxExpiresIn) {
    expires_in = kMaxExpiresIn;
    log("smart: warning: the token response's expires_in " + std::to_string(*seconds) + " s is capped to " +
        std::to_string(kMaxExpiresIn) + " s");
  } else {
    expires_in = *seconds;
  }

  // RFC 6749 section 5.1: a response without "scope" grants what was requested.
  std::vector<std::string> granted = requested_scopes_;
  if (auto scope = json::string(json::member(doc, "scope"))) {
    granted.clear();
    for (auto& s : split_scopes(*scope)) granted.push_back(cf::sanitize_for_log(s, 100));
    std::vector<std::string> missing, extra;
    for (const auto& s : requested_scopes_)
      if (std::find(granted.begin(), granted.end(), s) == granted.end()) missing.push_back(s);
    for (const auto& s : granted)
      if (std::find(requested_scopes_.begin(), requested_scopes_.end(), s) == requested_scopes_.end())
        extra.push_back(s);
    if (!missing.empty() || !extra.empty())
      log("smart: warning: the granted scope differs from the requested one; not granted: " +
          (missing.empty() ? "-" : join(missing)) +
          "; granted in addition: " + (extra.empty() ? "-" : join(extra)));
  }

  detail::wipe(token_);
  token_ = std::string(*access_token);
  lifetime_ = std::chrono::seconds(expires_in);
  expires_at_ = sent_at + lifetime_;
  granted_ = std::move(granted);
  ++counters_.tokens;
  log("smart: obtained an access token; expires in " + std::to_string(expires_in) + " s");
  return "Bearer " + token_;
}

cf::Error SmartAuth::Impl::token_error(const Response& resp, const std::string& assertion) const {
  std::string code, description;
  json::Document doc;
  json::ParseError err;
  if (json::parse(resp.body, doc, err) && doc.IsObject()) {
    if (auto e = json::string(json::member(doc, "error"))) code = cf::sanitize_for_log(*e, 40);
    if (auto d = json::string(json::member(doc, "error_description")))
      description = redact_server_text(*d, {assertion, token_});
  }
  std::string message = "the token request was refused with HTTP " + std::to_string(resp.status);
  if (resp.status >= 300 && resp.status < 400)
    message += " (a redirect; token requests do not follow redirects)";
  if (!code.empty()) message += ": " + code;
  if (!description.empty()) message += " (\"" + description + "\")";
  if (code.empty() && resp.status >= 400) message += " (" + content_type_of(resp) + ", no OAuth error code)";

  const std::string& alg = signer_->algorithm();
  if (code == "invalid_client" || code == "invalid_grant" || code == "unauthorized_client") {
    message += "; check the client id '" + cf::sanitize_for_log(options_.client_id, 80) + "', the key id '" +
               cf::sanitize_for_log(options_.key_id, 80) +
               "' and that the server holds the matching public key for " + alg;
    if (!advertised_algs_.empty() &&
        std::find(advertised_algs_.begin(), advertised_algs_.end(), alg) == advertised_algs_.end())
      message += " (the server does not list " + alg + " as supported)";
    // Assertions carry exp/iat: a server clock far from ours makes them look expired or not yet valid (A2).
    const auto now = std::chrono::system_clock::now();
    if (auto date = parse_http_date(resp.header("date"), now)) {
      const auto skew = std::chrono::duration_cast<std::chrono::seconds>(*date - now);
      if (skew > kSkewHint || skew < -kSkewHint)
        message += "; clock skew suspected: the server's Date header differs from this machine's clock by " +
                   std::to_string(skew.count()) + " s";
    }
  } else if (code == "invalid_scope") {
    message += "; the server does not allow the requested scopes: " + join(requested_scopes_);
  }
  return cf::make_error(std::move(message), endpoint_context());
}

SmartAuth::SmartAuth(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SmartAuth::~SmartAuth() = default;

cf::Result<std::shared_ptr<SmartAuth>> SmartAuth::create(SmartOptions options,
                                                         std::shared_ptr<HttpClient> client) {
  const std::string context = "SMART Backend Services";
  if (!client) return cf::make_error("no HTTP client given", context);
  auto base = Url::parse(options.fhir_base_url);
  if (!base)
    return cf::make_error("the FHIR base URL is not an absolute http(s) URL: " + base.error().message,
                          context);
  if (options.client_id.empty() || !printable_ascii(options.client_id))
    return cf::make_error("the client id is empty or has control or non-ASCII characters", context);
  if (options.key_id.empty() || !printable_ascii(options.key_id))
    return cf::make_error(
        "the key id (kid) is empty or has control or non-ASCII characters; SMART requires it", context);
  const auto scopes = split_scopes(options.scopes);
  if (scopes.empty()) return cf::make_error("no scopes to request", context);
  for (const auto& s : scopes)
    if (!valid_scope_token(s))
      return cf::make_error(
          "the scope '" + cf::sanitize_for_log(s, 60) + "' has characters OAuth does not allow", context);
  if (options.refresh_margin < std::chrono::milliseconds::zero())
    return cf::make_error("the refresh margin is negative", context);
  options.scopes = join(scopes);  // one space between scope tokens

  auto signer = detail::JwtSigner::load(options.private_key_pem_file, options.algorithm);
  if (!signer) return signer.error();
  if (options.log) {
    for (const auto& s : scopes)
      if (s.find('*') != std::string::npos)
        options.log("smart: warning: the scope " + s +
                    " covers every resource type; request only the types the run reads (least privilege)");
  }
  auto impl =
      std::make_unique<Impl>(std::move(options), std::move(client), std::move(*signer), std::move(*base));
  if (auto st = impl->set_up(); !st) return st.error();
  return std::shared_ptr<SmartAuth>(new SmartAuth(std::move(impl)));
}

cf::Result<std::string> SmartAuth::authorization() {
  return impl_->authorization();
}
cf::Result<std::string> SmartAuth::reauthorize() {
  return impl_->reauthorize(std::nullopt);
}
cf::Result<std::string> SmartAuth::reauthorize(std::string_view rejected) {
  return impl_->reauthorize(rejected);
}
const std::string& SmartAuth::token_endpoint() const {
  return impl_->token_endpoint();
}
const std::string& SmartAuth::algorithm() const {
  return impl_->algorithm();
}
bool scopes_grant_read(const std::vector<std::string>& scopes, std::string_view type) {
  for (const auto& s : scopes) {
    if (!s.starts_with("system/") || s.find('?') != std::string::npos) continue;
    const std::string_view rest = std::string_view(s).substr(7);
    const auto dot = rest.find('.');
    if (dot == std::string_view::npos) continue;
    const std::string_view what = rest.substr(0, dot), how = rest.substr(dot + 1);
    if (what != type && what != "*") continue;
    if (how == "read" || how == "*") return true;  // SMART v1
    // SMART v2: a subset of "cruds" in that order (anything else is malformed, so not counted).
    bool v2 = !how.empty();
    for (std::size_t i = 0, at = 0; v2 && i < how.size(); ++i) {
      const auto p = std::string_view("cruds").find(how[i], at);
      v2 = p != std::string_view::npos;
      at = p + 1;
    }
    if (v2 && how.find('r') != std::string_view::npos && how.find('s') != std::string_view::npos) return true;
  }
  return false;
}

cf::Result<std::vector<std::string>> SmartAuth::types_not_granted(const std::vector<std::string>& types) {
  if (auto a = authorization(); !a) return a.error();
  const auto granted = granted_scopes();
  std::vector<std::string> missing;
  for (const auto& t : types)
    if (!scopes_grant_read(granted, t)) missing.push_back(t);
  return missing;
}

std::vector<std::string> SmartAuth::granted_scopes() const {
  return impl_->granted_scopes();
}
SmartAuth::Counters SmartAuth::counters() const {
  return impl_->counters();
}

}  // namespace cf::transport
