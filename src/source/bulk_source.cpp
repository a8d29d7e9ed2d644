#include "source/bulk_source.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "core/sha256.hpp"
#include "core/stop_signal.hpp"
#include "core/text.hpp"
#include "fhir/extract.hpp"
#include "fhir/reference.hpp"
#include "json/json.hpp"
#include "source/ndjson_lines.hpp"
#include "transport/retry_after.hpp"

namespace cf::source {

namespace {

using std::chrono::milliseconds;
using transport::Url;
using Clock = std::chrono::steady_clock;

// Server-supplied text for a log line or a data issue (D7): ANSI escape sequences and control characters
// removed, at most `max` bytes (cut on a UTF-8 boundary).
std::string clean_text(std::string_view s, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && out.size() < max + 4; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b) {  // ESC: skip a CSI sequence (ESC [ params final) or the one following character
      if (i + 1 < s.size() && s[i + 1] == '[') {
        i += 2;
        while (i < s.size() && !(s[i] >= 0x40 && s[i] <= 0x7e)) ++i;
      } else {
        ++i;
      }
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    if (c == 0xc2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9f) {  // C1 control characters (CSI 0x9b included)
      ++i;
      continue;
    }
    out += static_cast<char>(c);
  }
  std::string_view t = trim(out);
  if (t.size() <= max) return std::string(t);
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(t[cut]) & 0xc0) == 0x80) --cut;
  return std::string(t.substr(0, cut)) + "...";
}

// An ISO 8601 instant with seconds and a zone ("2026-11-26T09:37:34.123+01:00") -> "2026-11-26T08:37:34Z".
std::optional<std::string> normalize_instant(std::string_view s) {
  auto digits = [&](std::size_t at, std::size_t n) {
    if (at + n > s.size()) return false;
    for (std::size_t i = at; i < at + n; ++i)
      if (s[i] < '0' || s[i] > '9') return false;
    return true;
  };
  auto num = [&](std::size_t at, std::size_t n) { return std::stoi(std::string(s.substr(at, n))); };
  if (s.size() < 20 || !digits(0, 4) || s[4] != '-' || !digits(5, 2) || s[7] != '-' || !digits(8, 2) ||
      s[10] != 'T' || !digits(11, 2) || s[13] != ':' || !digits(14, 2) || s[16] != ':' || !digits(17, 2))
    return std::nullopt;
  std::size_t p = 19;
  if (s[p] == '.') {
    ++p;
    const std::size_t start = p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
    if (p == start) return std::nullopt;
  }
  long offset = 0;
  if (p < s.size() && s[p] == 'Z' && p + 1 == s.size()) {
  } else if (p + 6 == s.size() && (s[p] == '+' || s[p] == '-') && digits(p + 1, 2) && s[p + 3] == ':' &&
             digits(p + 4, 2)) {
    const int oh = num(p + 1, 2), om = num(p + 4, 2);
    if (oh > 14 || om > 59) return std::nullopt;
    offset = (s[p] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return std::nullopt;
  const int mday = tm.tm_mday;
  std::time_t t = timegm(&tm);
  if (tm.tm_mday != mday) return std::nullopt;  // 2026-02-30 rolled over
  t -= offset;
  std::tm out{};
  gmtime_r(&t, &out);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &out);
  return std::string(buf);
}

// Hosts another origin must not make us contact unless trusted (RELIABILITY B6): loopback, link-local (cloud
// metadata at 169.254.169.254), unspecified. Private ranges stay legal.
bool is_local_host(const transport::Url& u) {
  if (u.is_loopback() || (u.host.size() > 10 && u.host.ends_with(".localhost"))) return true;
  std::string_view h = u.host;  // lower case already
  if (h.starts_with("::ffff:")) h.remove_prefix(7);
  if (h.starts_with("169.254.") || h.starts_with("0.") || h == "::") return true;
  return h.starts_with("fe8") || h.starts_with("fe9") || h.starts_with("fea") || h.starts_with("feb");
}

bool contains_word(std::string_view text, std::string_view word) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  for (std::size_t p = text.find(word); p != std::string_view::npos; p = text.find(word, p + 1)) {
    const bool left = p == 0 || !alnum(text[p - 1]);
    const bool right = p + word.size() == text.size() || !alnum(text[p + word.size()]);
    if (left && right) return true;
  }
  return false;
}

struct OutcomeIssue {
  std::string severity, code, text;
  std::vector<std::string> where;  // expression[] and location[]
};

std::vector<OutcomeIssue> outcome_issues(const json::Value& oo) {
  std::vector<OutcomeIssue> out;
  json::for_each(json::member(oo, "issue"), [&](std::size_t, const json::Value& is) {
    OutcomeIssue i;
    i.severity = std::string(json::string(json::member(is, "severity")).value_or(""));
    i.code = std::string(json::string(json::member(is, "code")).value_or(""));
    i.text = std::string(json::string(json::member(is, "diagnostics")).value_or(""));
    if (i.text.empty())
      i.text = std::string(json::string(json::member(json::member(is, "details"), "text")).value_or(""));
    for (const char* k : {"expression", "location"})
      json::for_each(json::member(is, k), [&](std::size_t, const json::Value& e) {
        if (auto v = json::string(&e)) i.where.emplace_back(*v);
      });
    out.push_back(std::move(i));
  });
  return out;
}

// The OperationOutcome in an error response, as one cleaned line ("error processing: text; ..."), and whether
// every issue in it is transient (a retry may succeed).
struct BodyOutcome {
  std::string text;
  bool present = false;
  bool transient = false;
};

BodyOutcome body_outcome(const std::string& body) {
  BodyOutcome out;
  json::Document doc;
  json::ParseError err;
  if (body.empty() || body.size() > (1u << 20) || !json::parse(body, doc, err)) return out;
  if (json::string(json::member(doc, "resourceType")).value_or("") != "OperationOutcome") return out;
  out.present = true;
  auto issues = outcome_issues(doc);
  out.transient = !issues.empty();
  std::string text;
  for (const auto& i : issues) {
    out.transient = out.transient && i.code == "transient";
    text += (text.empty() ? "" : "; ") + i.severity + " " + i.code + (i.text.empty() ? "" : ": " + i.text);
  }
  out.text = clean_text(text, 300);
  return out;
}

struct FileRef {
  std::string type;
  std::string url;
  std::optional<std::uint64_t> count;
  std::size_t ordinal = 0;  // among the files of its type in its list (output, error or deleted)
};

struct Manifest {
  std::string transaction_time;  // normalised; empty when invalid
  std::string request;
  bool requires_token = true;
  std::vector<FileRef> output, errors, deleted;
  std::string next;
};

void number_files(std::vector<FileRef>& files) {
  std::map<std::string, std::size_t> seen;
  for (auto& f : files) f.ordinal = seen[f.type]++;
}

milliseconds grow(milliseconds d, milliseconds cap) {
  return std::min(cap, milliseconds(d.count() + d.count() / 2 + 1));
}

std::string seconds_text(milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

Result<std::pair<BulkLevel, std::string>> parse_bulk_level(std::string_view text) {
  if (text == "system") return std::pair{BulkLevel::system, std::string()};
  if (text == "patient") return std::pair{BulkLevel::patient, std::string()};
  if (text.rfind("group:", 0) == 0) {
    std::string id(text.substr(6));
    if (!fhir::valid_id(id))
      return make_error("the Group id after 'group:' is not a valid FHIR id", "--bulk-level");
    return std::pair{BulkLevel::group, id};
  }
  return make_error("expected system, patient or group:ID", "--bulk-level");
}

std::vector<std::string> default_bulk_types() {
  return {"Patient",           "Condition",           "Observation",
          "MedicationRequest", "MedicationStatement", "MedicationAdministration",
          "Procedure",         "Medication"};
}

BulkSource::BulkSource(BulkOptions opts, std::shared_ptr<transport::HttpClient> client)
    : opts_(std::move(opts)), client_(std::move(client)) {
  while (!opts_.base_url.empty() && opts_.base_url.back() == '/') opts_.base_url.pop_back();
}

void BulkSource::pull_changes_since(const std::string& since, std::set<std::string> known) {
  since_ = since;
  known_ = std::move(known);
}

std::vector<std::string> BulkSource::queries() const {
  return sent_;
}

std::string BulkSource::describe() const {
  switch (opts_.level) {
    case BulkLevel::system:
      return "bulk:" + opts_.base_url + "/$export";
    case BulkLevel::patient:
      return "bulk:" + opts_.base_url + "/Patient/$export";
    case BulkLevel::group:
      return "bulk:" + opts_.base_url + "/Group/" + opts_.group_id + "/$export";
  }
  return "bulk:" + opts_.base_url;
}

struct BulkSource::Impl {
  BulkSource& self;
  const BulkOptions& o;
  IssueLog& issues;
  const Sink* sink = nullptr;
  Url base;
  std::mutex mu;                  // guards the sink, stats, completeness, counters and the sets below
  std::set<std::string> deleted;  // "Type/id"
  std::set<std::string> have_medications;        // Medication ids delivered
  std::set<std::string> referenced_medications;  // Medication ids referenced by delivered resources
  std::set<std::string> requested;               // _type
  milliseconds error_waited{0};
  // Expired file links (signed URLs): the manifest is read once more from the status URL.
  Url status_url;
  Clock::time_point manifest_at{};
  std::string manifest_time;  // transactionTime of the manifest in use
  std::mutex reread_mu;
  bool reread_tried = false;
  std::optional<Manifest> reread;  // the manifest read again, when it was usable

  Impl(BulkSource& s, IssueLog& i) : self(s), o(s.opts_), issues(i) {}

  void log(const std::string& line) {
    if (o.log) o.log(line);
  }
  void wait(milliseconds d) {
    {
      std::lock_guard lock(mu);
      self.counters_.waited += d;
    }
    if (o.sleep)
      o.sleep(d);
    else
      sleep_unless_stopped(d);
  }
  void incomplete(const std::string& type) {
    std::lock_guard lock(mu);
    self.completeness_.run_types.insert(type);
  }
  bool trusted(const Url& u) const {
    for (const auto& t : o.trusted_file_origins) {
      auto parsed = Url::parse(t);
      if (parsed && transport::same_origin(*parsed, u)) return true;
    }
    return false;
  }

  // Sends with the Authorization header when `with_auth`; a 401 under SMART gets one new token and one
  // repeat. With a `sink`, a 200 body (or that of the responses `stream_if` accepts) is streamed to it
  // (HttpClient::send_streaming) instead of collected.
  Result<transport::Response> send(transport::HttpClient& client, transport::Request req, bool with_auth,
                                   const transport::HttpClient::BodySink* body_sink = nullptr,
                                   const transport::HttpClient::StreamIf* stream_if = nullptr) {
    const transport::HttpClient::StreamIf only_200 = [](const transport::Response& r) {
      return r.status == 200;
    };
    // RELIABILITY H1: a URL of another origin (manifest links, status URLs) may not lead to this machine or
    // a link-local address by its name's resolution either, unless that origin is trusted.
    req.local_addresses_allowed = transport::same_origin(req.url, base) || trusted(req.url);
    auto exchange = [&] {
      return body_sink ? client.send_streaming(req, *body_sink, stream_if ? *stream_if : only_200)
                       : client.send(req);
    };
    std::string used;
    if (with_auth) {
      if (o.smart) {
        auto a = o.smart->authorization();
        if (!a) return a.error();
        used = std::move(*a);
        req.headers.emplace_back("Authorization", used);
      } else if (!o.authorization.empty()) {
        req.headers.emplace_back("Authorization", o.authorization);
      }
    }
    auto resp = exchange();
    if (!resp) return resp.error();
    if (resp->status == 401 && with_auth && o.smart) {
      auto a = o.smart->reauthorize(used);
      if (!a) return a.error();
      for (auto& h : req.headers)
        if (h.first == "Authorization") h.second = *a;
      resp = exchange();
    }
    return resp;
  }

  // Retry-After clamped to the poll policy, or nullopt when absent or unusable.
  std::optional<milliseconds> retry_after(const transport::Response& r) {
    const std::string v = r.header("retry-after");
    if (v.empty()) return std::nullopt;
    auto d = transport::parse_retry_after(v, std::chrono::system_clock::now());
    if (!d) {
      log("warning: unusable Retry-After '" + clean_text(v, 40) + "': using the default backoff");
      return std::nullopt;
    }
    if (*d > o.max_poll_interval) {
      log("warning: Retry-After of " + seconds_text(*d) + " clamped to " + seconds_text(o.max_poll_interval));
      return o.max_poll_interval;
    }
    return std::max(*d, o.min_poll_interval);
  }

  // Counts a wait on a 429/5xx answer against max_error_wait; false when the budget is spent.
  bool spend_error_wait(milliseconds d) {
    if (error_waited + d > o.max_error_wait) return false;
    error_waited += d;
    return true;
  }

  // Status URLs and manifest links: the base's origin, or https elsewhere (not loopback/link-local unless
  // trusted).
  Status check_server_url(const Url& u, const std::string& what) {
    if (transport::same_origin(u, base)) return Status::success();
    if (u.scheme != "https")
      return make_error(what + " is on another origin without https (" + u.redacted() + "): not followed");
    if (is_local_host(u) && !trusted(u))
      return make_error(what + " is on a loopback or link-local address of another origin (" + u.redacted() +
                        "): not followed");
    return Status::success();
  }

  // For queries(): a request asked again as it was (a kick-off answered 429) is noted once.
  void note_sent(std::string what) {
    if (self.sent_.empty() || self.sent_.back() != what) self.sent_.push_back(std::move(what));
  }

  // ---- kick-off
  // ------------------------------------------------------------------------------------------------
  std::string kickoff_path() const {
    switch (o.level) {
      case BulkLevel::patient:
        return base.path() + "/Patient/$export";
      case BulkLevel::group:
        return base.path() + "/Group/" + transport::percent_encode(o.group_id) + "/$export";
      case BulkLevel::system:
        break;
    }
    return base.path() + "/$export";
  }

  std::vector<std::string> type_filters() const {
    std::vector<std::string> out;
    // Not on an incremental export: a changed Observation that no longer has a mapped code must still come,
    // to replace the version the state store kept.
    if (!o.type_filter || o.observation_codes.empty() || !requested.count("Observation") ||
        !self.since_.empty())
      return out;
    std::string codes;
    for (const auto& c : o.observation_codes)
      codes += (codes.empty() ? "" : ",") + transport::percent_encode(c);
    out.push_back("Observation?code=" + codes);
    for (const auto& t : o.observation_texts)
      out.push_back("Observation?code:text=" + transport::percent_encode(t));
    return out;
  }

  Result<Url> kickoff() {
    bool with_filter = !type_filters().empty();
    milliseconds backoff = o.poll_interval;
    transport::HttpClient& client = o.kickoff_client ? *o.kickoff_client : *self.client_;
    for (;;) {
      std::string q = "_type=";
      for (std::size_t i = 0; i < o.types.size(); ++i)
        q += (i ? "," : "") + transport::percent_encode(o.types[i]);
      if (with_filter)
        for (const auto& f : type_filters()) q += "&_typeFilter=" + transport::percent_encode(f);
      if (!self.since_.empty()) q += "&_since=" + transport::percent_encode(self.since_);
      auto url = transport::resolve(base, kickoff_path() + "?" + q);
      if (!url || url->str().size() > 8000) {
        if (with_filter) {
          log("warning: the kick-off URL with _typeFilter is too long; asking without it");
          with_filter = false;
          continue;
        }
        if (!url) return Error{url.error().message, "bulk kick-off"};
      }
      transport::Request req;
      req.url = *url;
      req.headers = {{"Accept", "application/fhir+json"}, {"Prefer", "respond-async"}};
      {
        std::lock_guard lock(mu);
        ++self.counters_.kickoffs;
        note_sent("GET " + kickoff_path().substr(base.path().size() + 1) + "?" + q);
      }
      const std::string where = "GET " + url->redacted();
      auto resp = send(client, req, true);
      if (!resp) return Error{"export kick-off failed: " + resp.error().message, where};
      if (resp->status == 202) {
        const std::string loc = resp->header("content-location");
        if (loc.empty())
          return make_error(
              "the kick-off was accepted (202) without a Content-Location: the job cannot be followed "
              "(it may keep running on the server)",
              where);
        auto status = transport::resolve(*url, loc);
        if (!status) return make_error("unusable Content-Location: " + status.error().message, where);
        if (auto st = check_server_url(*status, "the status URL"); !st)
          return Error{st.error().message, where};
        log("export kicked off (" + url->redacted() + "): status " + status->redacted());
        return *status;
      }
      const BodyOutcome oo = body_outcome(resp->body);
      if (resp->status == 400 && with_filter) {
        issues.add(Severity::warning, "bulk-typefilter-refused", where, "", "_typeFilter",
                   "the server refused _typeFilter (HTTP 400" + (oo.text.empty() ? "" : ": " + oo.text) +
                       "); exporting every Observation instead");
        log("warning: the server refused _typeFilter (HTTP 400); kicking off without it");
        with_filter = false;
        continue;
      }
      if (resp->status == 429 || resp->status == 503) {
        // No job was created: waiting and asking again is safe (RELIABILITY B2).
        const milliseconds d = retry_after(*resp).value_or(backoff);
        backoff = grow(backoff, o.max_poll_interval);
        if (!spend_error_wait(d))
          return make_error("the kick-off kept answering HTTP " + std::to_string(resp->status) +
                                " for longer than " + seconds_text(o.max_error_wait),
                            where);
        log("kick-off answered HTTP " + std::to_string(resp->status) + "; asking again in " +
            seconds_text(d));
        wait(d);
        continue;
      }
      return make_error("the kick-off answered HTTP " + std::to_string(resp->status) +
                            (oo.text.empty() ? "" : ": " + oo.text),
                        where);
    }
  }

  // ---- polling
  // -------------------------------------------------------------------------------------------------
  enum class PollEnd { ready, gone, failed, deadline, stopped };
  struct PollResult {
    PollEnd end = PollEnd::failed;
    std::string body;
    Error error;
  };

  PollResult poll(const Url& status) {
    const auto start = Clock::now();
    const auto deadline = start + o.max_export_wait;
    const std::string where = "GET " + status.redacted();
    const bool auth = transport::same_origin(status, base);
    milliseconds backoff = o.poll_interval, error_backoff = o.poll_interval;
    std::string last_progress;
    const StopWatch watch;  // SIGTERM while polling: end the job here instead of dying (RELIABILITY B4)
    for (std::size_t n = 1;; ++n) {
      if (stop_requested())
        return {PollEnd::stopped,
                {},
                make_error("stopped by " + stop_signal_name() + " while the export ran", where)};
      if (Clock::now() >= deadline)
        return {PollEnd::deadline,
                {},
                make_error("the export was not ready after " + seconds_text(o.max_export_wait), where)};
      transport::Request req;
      req.url = status;
      req.headers = {{"Accept", "application/json"}};
      {
        std::lock_guard lock(mu);
        ++self.counters_.polls;
      }
      auto resp = send(*self.client_, req, auth);
      milliseconds delay{0};
      if (!resp) {
        delay = std::max(error_backoff, o.min_poll_interval);
        error_backoff = grow(error_backoff, o.max_poll_interval);
        if (!spend_error_wait(delay))
          return {PollEnd::failed, {}, Error{"status requests kept failing: " + resp.error().message, where}};
        log("status request failed (" + resp.error().message + "); polling again in " + seconds_text(delay));
      } else if (resp->status == 200) {
        return {PollEnd::ready, std::move(resp->body), {}};
      } else if (resp->status == 202) {
        const std::string progress = clean_text(resp->header("x-progress"), 100);
        auto ra = retry_after(*resp);
        delay = ra.value_or(std::max(backoff, o.min_poll_interval));
        if (!ra) backoff = grow(backoff, o.max_poll_interval);
        if (progress != last_progress || n == 1)
          log("export in progress" + (progress.empty() ? std::string() : ": " + progress) + " (poll " +
              std::to_string(n) + ", next in " + seconds_text(delay) + ")");
        last_progress = progress;
      } else if (resp->status == 404 || resp->status == 410) {
        return {PollEnd::gone,
                {},
                make_error(
                    "the server no longer knows the export job (HTTP " + std::to_string(resp->status) + ")",
                    where)};
      } else {
        const BodyOutcome oo = body_outcome(resp->body);
        const bool transient = resp->status == 429 || resp->status == 502 || resp->status == 503 ||
                               resp->status == 504 || (resp->status >= 500 && !oo.present) || oo.transient;
        if (!transient)
          return {PollEnd::failed,
                  {},
                  make_error("the export job failed: HTTP " + std::to_string(resp->status) +
                                 (oo.text.empty() ? "" : ": " + oo.text),
                             where)};
        auto ra = retry_after(*resp);
        delay = ra.value_or(std::max(error_backoff, o.min_poll_interval));
        if (!ra) error_backoff = grow(error_backoff, o.max_poll_interval);
        if (!spend_error_wait(delay))
          return {PollEnd::failed,
                  {},
                  make_error("the status URL kept answering HTTP " + std::to_string(resp->status) +
                                 " for longer than " + seconds_text(o.max_error_wait),
                             where)};
        log("status request answered HTTP " + std::to_string(resp->status) + "; polling again in " +
            seconds_text(delay));
      }
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      wait(std::max(milliseconds(0), std::min(delay, left)));
    }
  }

  void delete_job(const Url& status) {
    transport::Request req;
    req.method = "DELETE";
    req.url = status;
    auto resp = send(*self.client_, req, transport::same_origin(status, base));
    if (!resp) {
      log("warning: could not delete the export job: " + resp.error().message);
      return;
    }
    if ((resp->status >= 200 && resp->status < 300) || resp->status == 404 || resp->status == 410) {
      std::lock_guard lock(mu);
      self.counters_.job_deleted = true;
      return;
    }
    log("warning: deleting the export job answered HTTP " + std::to_string(resp->status));
  }

  // ---- manifest
  // ------------------------------------------------------------------------------------------------
  // `quiet`: for a manifest read again (expired links): its problems were reported the first time.
  Result<Manifest> parse_manifest(const std::string& body, const std::string& where, bool quiet = false) {
    json::Document doc;
    json::ParseError err;
    if (!json::parse(body, doc, err))
      return make_error("the export manifest is not valid JSON (" + err.message + ")", where);
    if (!doc.IsObject()) return make_error("the export manifest is not a JSON object", where);
    Manifest m;
    auto problem = [&](Severity s, const std::string& path, const std::string& msg) {
      if (quiet) return;
      issues.add(s, "bulk-manifest", where, "", path, msg);
      log(std::string(s == Severity::error ? "error" : "warning") + ": manifest: " + msg);
    };
    const json::Value* tt = json::member(doc, "transactionTime");
    if (auto v = json::string(tt); v && normalize_instant(*v)) {
      m.transaction_time = *normalize_instant(*v);
    } else {
      problem(Severity::error, "transactionTime",
              "transactionTime is missing or not an instant with a time zone ('" +
                  clean_text(v.value_or(""), 40) +
                  "'): the watermark does not move, so the next night exports again from the previous one");
    }
    if (auto v = json::string(json::member(doc, "request")))
      m.request = std::string(*v);
    else
      problem(Severity::warning, "request", "the manifest has no request URL");
    const json::Value* rat = json::member(doc, "requiresAccessToken");
    if (!rat) {
      problem(Severity::warning, "requiresAccessToken", "requiresAccessToken is missing: treated as true");
    } else if (auto b = json::boolean(rat)) {
      m.requires_token = *b;
    } else {
      problem(Severity::error, "requiresAccessToken",
              "requiresAccessToken is not a boolean: treated as true");
    }
    const json::Value* out = json::member(doc, "output");
    if (!json::is_array(out)) return make_error("the export manifest has no output array", where);
    auto files = [&](const json::Value* arr, const char* field, std::vector<FileRef>& dst) {
      std::set<std::string> seen;
      json::for_each(arr, [&](std::size_t i, const json::Value& f) {
        const std::string path = std::string(field) + "[" + std::to_string(i) + "]";
        FileRef r;
        r.type = std::string(json::string(json::member(f, "type")).value_or(""));
        r.url = std::string(json::string(json::member(f, "url")).value_or(""));
        if (r.url.empty()) {
          problem(Severity::error, path + ".url", "a file entry has no url");
          if (quiet)
            return;
          else if (std::string(field) != "output" || !requested.count(r.type))
            incomplete("*");
          else
            incomplete(r.type);
          return;
        }
        if (!seen.insert(r.url).second) {
          problem(Severity::warning, path + ".url", "the same file is listed twice: read once");
          return;
        }
        if (const json::Value* c = json::member(f, "count")) {
          auto t = json::number_text(c);
          if (t && !t->empty() && t->size() <= 15 &&
              t->find_first_not_of("0123456789") == std::string_view::npos)
            r.count = std::stoull(std::string(*t));
          else
            problem(Severity::warning, path + ".count", "count is not a non-negative integer: not checked");
        }
        dst.push_back(std::move(r));
      });
    };
    files(out, "output", m.output);
    const json::Value* errs = json::member(doc, "error");
    if (!errs) errs = json::member(doc, "outcome");  // Bulk Data STU4
    files(errs, "error", m.errors);
    files(json::member(doc, "deleted"), "deleted", m.deleted);
    json::for_each(json::member(doc, "link"), [&](std::size_t, const json::Value& l) {
      if (json::string(json::member(l, "relation")).value_or("") == "next")
        m.next = std::string(json::string(json::member(l, "url")).value_or(""));
    });
    return m;
  }

  // Reads the manifest and any further parts it links to (Bulk Data v3), refusing loops.
  Result<Manifest> read_manifest(const std::string& first_body, const Url& status, bool quiet = false) {
    auto m = parse_manifest(first_body, "manifest " + status.redacted(), quiet);
    if (!m) return m;
    {
      std::lock_guard lock(mu);
      ++self.counters_.manifests;
    }
    std::set<std::string> visited{status.str()};
    Url at = status;
    std::string next = m->next;
    while (!next.empty()) {
      auto u = transport::resolve(at, next);
      if (!u)
        return make_error("unusable manifest next link: " + u.error().message, "manifest " + at.redacted());
      if (auto st = check_server_url(*u, "a manifest next link"); !st) return st.error();
      if (!visited.insert(u->str()).second || visited.size() > 1000)
        return make_error("the manifest's next links loop", "manifest " + u->redacted());
      transport::Request req;
      req.url = *u;
      req.headers = {{"Accept", "application/json"}};
      auto resp = send(*self.client_, req, transport::same_origin(*u, base));
      if (!resp) return resp.error();
      if (resp->status != 200)
        return make_error("manifest part answered HTTP " + std::to_string(resp->status),
                          "GET " + u->redacted());
      auto part = parse_manifest(resp->body, "manifest " + u->redacted(), quiet);
      if (!part) return part;
      {
        std::lock_guard lock(mu);
        ++self.counters_.manifests;
      }
      for (auto v : {&Manifest::output, &Manifest::errors, &Manifest::deleted})
        for (auto& f : (*part).*v) {
          const bool dup = std::any_of(((*m).*v).begin(), ((*m).*v).end(),
                                       [&](const FileRef& x) { return x.url == f.url; });
          if (!dup)
            ((*m).*v).push_back(std::move(f));
          else if (!quiet)
            issues.add(Severity::warning, "bulk-manifest", "manifest " + u->redacted(), "", "",
                       "a file listed by an earlier part of the manifest is listed again: read once");
        }
      at = *u;
      next = part->next;
    }
    for (auto v : {&Manifest::output, &Manifest::errors, &Manifest::deleted}) number_files((*m).*v);
    return m;
  }

  // The manifest read once more from the status URL, when the first one was read at least
  // manifest_reread_after ago (its file links may have expired); nullopt when it is too young, was already
  // re-read, could not be read or is of another export (transactionTime).
  const Manifest* reread_manifest() {
    std::lock_guard lock(reread_mu);  // one re-read for every download thread
    if (reread_tried) return reread ? &*reread : nullptr;
    if (Clock::now() - manifest_at < o.manifest_reread_after) return nullptr;
    reread_tried = true;
    transport::Request req;
    req.url = status_url;
    req.headers = {{"Accept", "application/json"}};
    auto resp = send(*self.client_, req, transport::same_origin(status_url, base));
    if (!resp || resp->status != 200) {
      log("warning: reading the manifest again failed (" +
          (resp ? "HTTP " + std::to_string(resp->status) : resp.error().message) + ")");
      return nullptr;
    }
    auto m = read_manifest(resp->body, status_url, true);
    if (!m || m->transaction_time != manifest_time) {
      log("warning: the manifest read again is unusable or of another export: not used");
      return nullptr;
    }
    {
      std::lock_guard count(mu);
      ++self.counters_.manifest_rereads;
    }
    log("read the manifest again (file links may have expired)");
    reread = std::move(*m);
    return &*reread;
  }

  // The re-read manifest's entry for `f`: the same list, type and path (signed links differ in their query),
  // else the same list and type at the same position. nullopt when there is none or its link is unchanged.
  std::optional<FileRef> renewed(const FileRef& f, std::vector<FileRef> Manifest::*list,
                                 bool& requires_token) {
    const Manifest* m = reread_manifest();
    if (!m) return std::nullopt;
    const auto old_url = Url::parse(f.url);
    const FileRef* found = nullptr;
    for (const auto& g : (*m).*list) {
      const auto u = Url::parse(g.url);
      if (g.type == f.type && u && old_url && u->origin() == old_url->origin() &&
          u->path() == old_url->path()) {
        found = &g;
        break;
      }
    }
    if (!found)
      for (const auto& g : (*m).*list)
        if (g.type == f.type && g.ordinal == f.ordinal) found = &g;
    if (!found || found->url == f.url) return std::nullopt;
    requires_token = m->requires_token;
    FileRef out = *found;
    out.count = f.count;  // the count checked is the one announced with the data
    return out;
  }

  // ---- files
  // ---------------------------------------------------------------------------------------------------
  // The first byte of a 206's Content-Range ("bytes 1000-4999/5000" -> 1000), or nullopt.
  static std::optional<std::uint64_t> range_start(std::string_view v) {
    if (v.substr(0, 6) != "bytes ") return std::nullopt;
    v.remove_prefix(6);
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end == v.data() || end == v.data() + v.size() || *end != '-')
      return std::nullopt;
    return n;
  }

  // A body cut off (connection closed or reset, a read that timed out) may come whole next time; one that
  // broke a size cap, the whole-transfer deadline or the decoder will fail the same way again.
  static bool worth_another_download(const std::string& why) {
    for (const char* lasting :
         {"total timeout", "exceeds", "limit", "zlib", "compressed", "Content-Encoding", "decod"})
      if (why.find(lasting) != std::string::npos) return false;
    return true;
  }

  // Streams one file into `lines` as it arrives (HttpClient::send_streaming), so that memory holds a piece of
  // the body and the line being split, whatever the file's size; lines.finish() is called once the whole body
  // has arrived. Fails when the file is refused, answers other than 200 (or, to a request for the rest, 206),
  // or breaks off: then the lines fed so far have been handed on, but the file is not complete (the caller
  // marks what is incomplete).
  Status stream_file(const FileRef& f, bool requires_token, const char* what, NdjsonLines& lines,
                     int* http_status = nullptr, std::string* location = nullptr) {
    auto u = Url::parse(f.url);
    if (!u)
      return make_error(std::string(what) + " URL is not an absolute http(s) URL: not fetched", "manifest");
    const std::string where = "GET " + u->redacted();
    const bool same = transport::same_origin(*u, base);
    if (!same) {
      if (u->scheme != "https")
        return make_error(std::string(what) + " is on another origin without https: not fetched", where);
      if (is_local_host(*u) && !trusted(*u))
        return make_error(
            std::string(what) + " is on a loopback or link-local address of another origin: not fetched",
            where);
      if (requires_token && !trusted(*u))
        return make_error(std::string(what) +
                              " needs the access token but is on another origin, and the token goes "
                              "only to the FHIR server: not fetched",
                          where);
    }
    transport::Request req;
    req.url = *u;
    req.headers = {{"Accept", "application/fhir+ndjson"}};
    {
      std::lock_guard lock(mu);
      ++self.counters_.files;
    }
    // A download that breaks off after some of the body was read is downloaded again (RELIABILITY B7, at
    // most kFileAttempts in all): the lines already read stay read, so the new response's first bytes are
    // checked against what arrived before (SHA-256) and skipped, and reading goes on where it stopped. A
    // file that changed in between is not pieced together: it fails. When the first response named its
    // version with a strong ETag and was not compressed, only the rest is asked for (Range, with If-Range:
    // the server sends the rest of that version, 206, or the whole file if it changed, 200).
    constexpr int kFileAttempts = 3;
    std::uint64_t delivered = 0;  // body bytes handed to `lines`, over all attempts
    Sha256 delivered_hash;
    std::string etag;  // the strong ETag of the uncompressed response whose bytes were delivered
    Result<transport::Response> resp = make_error("not fetched");
    bool rest_only = false;  // the last response is the rest (206) of what was delivered
    for (int attempt = 1;; ++attempt) {
      const std::uint64_t skip = delivered;
      std::string expected;
      if (skip) {
        Sha256 copy = delivered_hash;
        expected = copy.hex_digest();
      }
      transport::Request this_req = req;
      const bool ask_rest = skip > 0 && !etag.empty();
      if (ask_rest) {
        this_req.headers.emplace_back("Range", "bytes=" + std::to_string(skip) + "-");
        this_req.headers.emplace_back("If-Range", etag);
        this_req.headers.emplace_back("Accept-Encoding", "identity");  // offsets count uncompressed bytes
      }
      rest_only = false;
      std::uint64_t seen = 0;  // body bytes of this response, counted from the start of the file
      const transport::HttpClient::StreamIf accept = [&](const transport::Response& head) {
        const bool identity = head.header("content-encoding").empty();
        if (head.status == 206) {
          rest_only = ask_rest && identity && range_start(head.header("content-range")) == skip;
          if (rest_only) seen = skip;  // the body starts where the last one broke off
          return rest_only;
        }
        if (head.status != 200) return false;
        if (skip == 0) {
          const std::string tag = head.header("etag");
          etag = identity && tag.size() > 2 && tag.front() == '"' ? tag : std::string();
        }
        return true;
      };
      Sha256 prefix;
      bool changed = false;
      const transport::HttpClient::BodySink to_lines = [&](std::string_view piece) {
        const std::uint64_t before = seen;
        seen += piece.size();
        if (before < skip) {
          const std::size_t n =
              static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), skip - before));
          prefix.update(piece.substr(0, n));
          piece.remove_prefix(n);
          if (before + n == skip && prefix.hex_digest() != expected) {
            changed = true;
            return Status(make_error("the file changed between two downloads"));
          }
        }
        if (piece.empty()) return Status::success();
        delivered += piece.size();
        delivered_hash.update(piece);
        lines.feed(piece);
        return Status::success();
      };
      resp = send(o.file_client ? *o.file_client : *self.client_, this_req, same && requires_token, &to_lines,
                  &accept);
      if (rest_only) {
        std::lock_guard lock(mu);
        ++self.counters_.ranged_files;
      }
      {
        std::lock_guard lock(mu);
        self.counters_.bytes += seen - (rest_only ? skip : 0);
      }
      // A range request answered otherwise than with the rest or the whole file (a 416 when the break came
      // after the last byte, a Content-Range elsewhere): the next attempt asks for the whole file.
      if (resp && ask_rest && !rest_only && resp->status != 200 && attempt < kFileAttempts) {
        log(std::string(what) + ": the request for the rest after byte " + std::to_string(skip) +
            " got HTTP " + std::to_string(resp->status) + "; downloading it again from the start");
        etag.clear();
        continue;
      }
      if (resp || changed || attempt >= kFileAttempts || !worth_another_download(resp.error().message)) {
        if (seen < skip && !changed && (!resp || resp->status == 200 || rest_only))
          return Error{resp ? "the file is shorter than the " + std::to_string(skip) +
                                  " bytes read from it before: it changed between two downloads"
                            : "the body broke off again before reaching the " + std::to_string(skip) +
                                  " bytes read earlier: " + resp.error().message,
                       where};
        break;
      }
      log(std::string(what) + " broke off after " + std::to_string(delivered) + " bytes (" +
          resp.error().message + "); downloading it again (attempt " + std::to_string(attempt + 1) + " of " +
          std::to_string(kFileAttempts) + ")");
    }
    if (!resp) return Error{resp.error().message, where};
    if (resp->status != 200 && !(resp->status == 206 && rest_only)) {
      if (http_status) *http_status = resp->status;
      if (location) *location = resp->header("location");
      const BodyOutcome oo = body_outcome(resp->body);
      return make_error("HTTP " + std::to_string(resp->status) + (oo.text.empty() ? "" : ": " + oo.text),
                        where);
    }
    const std::string ct = to_lower_ascii(resp->header("content-type"));
    if (!ct.empty() && ct.find("ndjson") == std::string::npos && ct.find("text/plain") == std::string::npos)
      issues.add(Severity::warning, "bulk-content-type", where, "", "",
                 "file served as '" + clean_text(ct, 60) + "', not application/fhir+ndjson: read as NDJSON");
    lines.finish();
    return Status::success();
  }

  // stream_file(), and when the file answers 401/403/404/410 (before any byte: only a 200 is streamed) while
  // the manifest is older than manifest_reread_after, once more from the link of a manifest read again.
  Status fetch_file(const FileRef& f, std::vector<FileRef> Manifest::*list, bool requires_token,
                    const char* what, NdjsonLines& lines) {
    int http_status = 0;
    Status st = follow_redirects(f, requires_token, what, lines, http_status);
    if (st || (http_status != 401 && http_status != 403 && http_status != 404 && http_status != 410) ||
        lines.lines() != 0 || !lines.ended_with_newline())
      return st;
    bool token = requires_token;
    const auto again = renewed(f, list, token);
    if (!again) return st;
    log(std::string(what) + " answered HTTP " + std::to_string(http_status) +
        ": trying it again from its link in the manifest read again");
    return follow_redirects(*again, token, what, lines, http_status);
  }

  // stream_file(), following up to kMaxRedirects redirects of a file download (RELIABILITY T11; storage
  // services answer file links with a redirect to a signed URL). A hop must stay on https once there and,
  // like the manifest's own links, is refused on plain http elsewhere; the access token goes only where
  // stream_file() would send it, never to another origin a redirect names (a signed URL carries its own
  // authorisation). Only file downloads follow redirects: the kick-off, status and token requests do not.
  Status follow_redirects(const FileRef& f, bool requires_token, const char* what, NdjsonLines& lines,
                          int& http_status) {
    constexpr int kMaxRedirects = 5;
    FileRef current = f;
    bool token = requires_token;
    for (int hop = 0;; ++hop) {
      http_status = 0;
      std::string location;
      Status st = stream_file(current, token, what, lines, &http_status, &location);
      const bool redirect = http_status == 301 || http_status == 302 || http_status == 303 ||
                            http_status == 307 || http_status == 308;
      if (st || !redirect || location.empty() || lines.lines() != 0) return st;
      auto from = Url::parse(current.url);  // valid: stream_file() answered a request to it
      if (!from) return st;
      auto to = transport::resolve(*from, location);
      const std::string where = "GET " + from->redacted();
      if (!to)
        return make_error(std::string(what) + " redirected to an unusable URL: " + to.error().message, where);
      if (hop == kMaxRedirects)
        return make_error(std::string(what) + ": more than " + std::to_string(kMaxRedirects) + " redirects",
                          where);
      // Also keeps an https download on https: a hop to http is always to another origin.
      if (!transport::same_origin(*to, *from) && to->scheme != "https")
        return make_error(std::string(what) + " redirected to another origin without https (" +
                              to->redacted() + "): not followed",
                          where);
      token = token && transport::same_origin(*to, base);
      log(std::string(what) + " redirected (HTTP " + std::to_string(http_status) + ") to " + to->redacted());
      current.url = to->str();
    }
  }

  // Local patient id of a subject reference: relative, or absolute on this server's base.
  std::string local_reference(const std::string& ref) const {
    const std::string prefix = base.str() + "/";
    std::string r = ref.rfind(prefix, 0) == 0 ? ref.substr(prefix.size()) : ref;
    return r.find("://") == std::string::npos ? r : std::string();
  }

  // Returns the patient id a subject on another server names ("" if none): that server's patient may be ours,
  // whose decisions on the type are then unknown, as from files (RELIABILITY H1).
  std::string resolve(fhir::Resource& r, IssueLog& log_to) {
    fhir::Header& h = fhir::header(r);
    if (auto* m = std::get_if<fhir::MedicationUse>(&r); m && !m->medication_reference.empty()) {
      if (auto rel = local_reference(m->medication_reference); !rel.empty()) m->medication_reference = rel;
    }
    if (h.type == fhir::ResourceType::patient) {
      h.patient_id = h.id;
      return {};
    }
    if (h.type == fhir::ResourceType::medication) return {};
    const std::string ref = local_reference(h.subject);
    h.patient_id = ref.empty() ? std::string() : fhir::patient_id_from_reference(ref);
    if (!h.patient_id.empty()) return {};
    const bool foreign = h.subject.find("://") != std::string::npos;
    log_to.add(Severity::warning, "unattributed-resource", h.origin.location, h.key(),
               std::string(fhir::to_string(h.type)) + ".subject",
               h.subject.empty() ? "no subject: the resource cannot be attributed to a patient"
               : foreign         ? kForeignSubject
                                 : "subject is not a Patient of this server");
    return foreign_subject_patient(h.subject);
  }

  // Hands a page on (under the lock: the sink is not thread-safe), noting Medications had and referenced.
  void deliver(Page& page) {
    if (page.resources.empty()) return;
    std::lock_guard lock(mu);
    for (const auto& r : page.resources) {
      const fhir::Header& h = fhir::header(r);
      ++self.stats_.read_by_type[fhir::to_string(h.type)];
      if (h.type == fhir::ResourceType::medication) have_medications.insert(h.id);
      if (auto* m = std::get_if<fhir::MedicationUse>(&r);
          m && m->medication_reference.rfind("Medication/", 0) == 0)
        referenced_medications.insert(m->medication_reference.substr(11));
    }
    std::string label = page.label;
    (*sink)(std::move(page));
    page = Page{};
    page.label = std::move(label);
  }

  // Each line is parsed as it arrives and pages go to the sink as they fill, while the file is still
  // downloading: memory per download is one line, one piece of the body and one page.
  void read_output(const FileRef& f, std::size_t index, bool requires_token) {
    const std::string label = "bulk " + f.type + " file " + std::to_string(index + 1);
    const std::string where = Url::parse(f.url) ? Url::parse(f.url)->redacted() : label;
    Page page;
    page.label = label;
    Stats local;
    std::size_t lines = 0, wrong = 0;
    bool unattributed_loss = false;
    std::set<std::string> lost_patients, foreign_patients;
    json::LineDocument line_doc;
    json::Document& doc = line_doc;
    json::ParseError perr;
    NdjsonLines splitter([&](std::size_t no, std::string_view line, bool too_long) {
      const std::string loc = where + ":" + std::to_string(no);
      if (too_long) {
        ++lines;
        ++local.rejected;
        unattributed_loss = true;
        issues.add(Severity::error, "line-too-long", loc, "", "", "line longer than the limit was skipped");
        return;
      }
      if (trim(line).empty()) return;
      ++lines;
      // An incremental export (_since) is read whole: a changed resource that no longer matches (recoded)
      // must still reach the state store, to replace the version it kept.
      if (o.line_filter && self.since_.empty()) {
        std::string_view t;
        switch (o.line_filter->check(line, t)) {
          case LineFilter::Verdict::other_type:
            if (t != f.type) {
              ++wrong;
              issues.add(Severity::error, "bulk-wrong-type", loc, "", "resourceType",
                         "a " + clean_text(t, 40) + " in the " + f.type + " file");
            } else {
              ++local.skipped_by_type[std::string(t)];
            }
            return;
          case LineFilter::Verdict::irrelevant:
            if (t != f.type) {
              ++wrong;
              issues.add(Severity::error, "bulk-wrong-type", loc, "", "resourceType",
                         "a " + clean_text(t, 40) + " in the " + f.type + " file");
            } else {
              ++local.prefiltered_by_type[f.type];
            }
            return;
          case LineFilter::Verdict::parse:
            break;
        }
      }
      if (!json::parse_line(line, doc, perr)) {  // `doc` is read before the next line is parsed
        ++local.rejected;
        unattributed_loss = true;
        issues.add(Severity::error, "json-syntax", loc + ":" + std::to_string(perr.column), "", "",
                   "line is not valid JSON: " + perr.message);
        return;
      }
      const std::string type(json::string(json::member(doc, "resourceType")).value_or(""));
      if (type != f.type) {
        ++wrong;
        issues.add(Severity::error, "bulk-wrong-type", loc, "", "resourceType",
                   "a " + (type.empty() ? std::string("line without resourceType") : clean_text(type, 40)) +
                       " in the " + f.type + " file: not used");
        return;
      }
      auto ex = fhir::extract_resource(doc, fhir::Origin{loc}, issues);
      if (ex.rejected) {
        ++local.rejected;
        std::string patient;
        if (type == "Patient") {
          patient = std::string(json::string(json::member(doc, "id")).value_or(""));
        } else {
          const std::string ref(
              json::string(json::member(json::member(doc, "subject"), "reference")).value_or(""));
          if (auto rel = local_reference(ref); !rel.empty()) patient = fhir::patient_id_from_reference(rel);
        }
        if (patient.empty() || !fhir::valid_id(patient))
          unattributed_loss = true;
        else
          lost_patients.insert(patient);
        return;
      }
      if (!ex.resource) {
        ++local.skipped_by_type[ex.type_name];
        return;
      }
      const std::string named = resolve(*ex.resource, issues);
      fhir::Header& h = fhir::header(*ex.resource);
      if (deleted.count(h.key())) {  // complete before the outputs are read: no lock needed
        issues.add(Severity::warning, "bulk-deleted-in-output", loc, h.key(), "",
                   "the resource is listed both as exported and as deleted: treated as deleted");
        return;
      }
      if (!named.empty()) foreign_patients.insert(named);
      if (self.keep_raw_) h.raw.assign(line);
      page.resources.push_back(std::move(*ex.resource));
      if (page.resources.size() >= o.page_size) deliver(page);
    });
    const Status streamed = fetch_file(f, &Manifest::output, requires_token, "an output file", splitter);
    // What arrived before a failure is real data and goes on like the rest; the type is incomplete either
    // way.
    deliver(page);
    bool bad = false;
    if (!streamed) {
      bad = true;
      issues.add(
          Severity::error, "bulk-file-failed", streamed.error().context, "", "",
          f.type + " file: " + streamed.error().message + "; " + f.type + " is incomplete for this run");
      log(label + " failed: " + streamed.error().what());
    } else if (f.count && *f.count != lines) {
      bad = true;
      issues.add(Severity::error, "bulk-count-mismatch", where, "", "",
                 "the manifest announces " + std::to_string(*f.count) + " " + f.type +
                     " resources but the file has " + std::to_string(lines) + " lines; " + f.type +
                     " is incomplete for this run");
    }
    if (wrong) {
      bad = true;
      issues.add(Severity::error, "incomplete-data", where, "", "",
                 std::to_string(wrong) + " line(s) of the " + f.type + " file hold another resource type; " +
                     f.type + " is incomplete for this run");
    }
    if (unattributed_loss) {
      bad = true;
      issues.add(
          Severity::error, "incomplete-data", where, "", "",
          "a line of the " + f.type + " file could not be read; " + f.type + " is incomplete for this run");
    }
    std::lock_guard lock(mu);
    self.counters_.lines += lines;
    self.stats_.rejected += local.rejected;
    for (const auto& [t, n] : local.prefiltered_by_type) self.stats_.prefiltered_by_type[t] += n;
    for (const auto& [t, n] : local.skipped_by_type) self.stats_.skipped_by_type[t] += n;
    if (streamed) ++self.stats_.files;
    if (bad) {
      ++self.counters_.failed_files;
      self.completeness_.run_types.insert(f.type);
      if (streamed) log(label + ": incomplete (see data_issues.ndjson)");
    }
    for (const auto& p : lost_patients) self.completeness_.patient_types[p].insert(f.type);
    for (const auto& p : foreign_patients) self.completeness_.foreign_types[p].insert(f.type);
  }

  // `deleted`: NDJSON of transaction Bundles whose entries are DELETE requests ("Observation/123").
  void read_deleted(const FileRef& f, bool requires_token) {
    const std::string where = Url::parse(f.url) ? Url::parse(f.url)->redacted() : "deleted file";
    json::Document doc;
    json::ParseError perr;
    bool bad = false;
    NdjsonLines splitter([&](std::size_t no, std::string_view line, bool too_long) {
      const std::string loc = where + ":" + std::to_string(no);
      if (too_long || (!trim(line).empty() && !json::parse(line, doc, perr))) {
        bad = true;
        issues.add(Severity::error, "json-syntax", loc, "", "", "deleted-resources line is not valid JSON");
        return;
      }
      if (trim(line).empty()) return;
      json::for_each(json::member(doc, "entry"), [&](std::size_t i, const json::Value& e) {
        const json::Value* req = json::member(e, "request");
        const std::string method(json::string(json::member(req, "method")).value_or(""));
        const std::string url(json::string(json::member(req, "url")).value_or(""));
        const std::string key = fhir::relative_reference(local_reference(url));
        if (method != "DELETE" || key.empty()) {
          issues.add(Severity::warning, "bulk-deleted-entry", loc + " entry[" + std::to_string(i) + "]", "",
                     "Bundle.entry.request", "not a DELETE of a resource on this server: ignored");
          return;
        }
        std::lock_guard lock(mu);
        deleted.insert(key);
      });
    });
    if (auto st = fetch_file(f, &Manifest::deleted, requires_token, "a deleted-resources file", splitter);
        !st) {
      issues.add(Severity::error, "bulk-file-failed", st.error().context, "", "",
                 "deleted-resources file: " + st.error().message +
                     "; every type is incomplete for this run "
                     "(resources deleted on the server may still be used)");
      bad = true;
    }
    if (bad) incomplete("*");
  }

  // Error files: OperationOutcome NDJSON. fatal/error issues make the types they name incomplete (every type
  // when they name none); their text goes to the data issues only, never to the log (it may name patients,
  // B8).
  void read_errors(const FileRef& f, bool requires_token) {
    const std::string where = Url::parse(f.url) ? Url::parse(f.url)->redacted() : "error file";
    json::Document doc;
    json::ParseError perr;
    std::size_t serious = 0, other = 0;
    NdjsonLines splitter([&](std::size_t no, std::string_view line, bool too_long) {
      const std::string loc = where + ":" + std::to_string(no);
      if (!too_long && trim(line).empty()) return;
      if (too_long || !json::parse(line, doc, perr) ||
          json::string(json::member(doc, "resourceType")).value_or("") != "OperationOutcome") {
        ++serious;
        issues.add(Severity::error, "bulk-export-outcome", loc, "", "",
                   "unreadable error-file line; every type is incomplete for this run");
        incomplete("*");
        return;
      }
      for (const auto& is : outcome_issues(doc)) {
        const bool bad = is.severity == "fatal" || is.severity == "error";
        std::set<std::string> types;
        for (const auto& t : requested) {
          for (const auto& w : is.where)
            if (w.rfind(t, 0) == 0 &&
                (w.size() == t.size() || !std::isalnum(static_cast<unsigned char>(w[t.size()]))))
              types.insert(t);
          if (contains_word(is.text, t)) types.insert(t);
        }
        if (bad) {
          ++serious;
          if (types.empty())
            incomplete("*");
          else
            for (const auto& t : types) incomplete(t);
        } else {
          ++other;
        }
        std::string affected;
        for (const auto& t : types) affected += (affected.empty() ? "" : ",") + t;
        issues.add(bad ? Severity::error : Severity::warning, "bulk-export-outcome", loc, "",
                   "OperationOutcome.issue",
                   "the server reported " + clean_text(is.severity, 20) + " " + clean_text(is.code, 40) +
                       ": " + clean_text(is.text, 300) +
                       (bad ? "; " + (affected.empty() ? std::string("every type") : affected) +
                                  " incomplete for this run"
                            : std::string()));
      }
    });
    if (auto st = fetch_file(f, &Manifest::errors, requires_token, "an error file", splitter); !st) {
      issues.add(Severity::error, "bulk-file-failed", st.error().context, "", "",
                 "error file: " + st.error().message + "; every type is incomplete for this run");
      incomplete("*");
      return;
    }
    log("error file: " + std::to_string(serious) + " fatal/error and " + std::to_string(other) +
        " other issue(s) (text in data_issues.ndjson)");
  }

  // Medications referenced by the export's medication resources but not in it, read with Medication?_id=.
  void fetch_medications() {
    std::vector<std::string> missing;
    for (const auto& id : referenced_medications)
      if (!have_medications.count(id) && fhir::valid_id(id)) missing.push_back(id);
    if (missing.empty()) return;
    log(std::to_string(missing.size()) +
        " referenced Medication(s) not in the export: reading them by search");
    for (std::size_t i = 0; i < missing.size(); i += 50) {
      std::string ids;
      for (std::size_t j = i; j < std::min(missing.size(), i + 50); ++j)
        ids += (ids.empty() ? "" : ",") + missing[j];
      const std::string relative = "Medication?_id=" + transport::percent_encode(ids) + "&_count=100";
      auto url = transport::resolve(base, base.path() + "/" + relative);
      if (!url) {
        incomplete("Medication");
        return;
      }
      const std::string where = "GET " + url->redacted();
      transport::Request req;
      req.url = *url;
      req.headers = {{"Accept", "application/fhir+json"}};
      ++self.counters_.medication_searches;
      note_sent("GET " + relative);
      auto resp = send(*self.client_, req, true);
      json::Document doc;
      json::ParseError perr;
      if (!resp || resp->status != 200 || !json::parse(resp->body, doc, perr) ||
          json::string(json::member(doc, "resourceType")).value_or("") != "Bundle") {
        issues.add(Severity::error, "query-failed", where, "", "",
                   "reading the referenced Medications failed" +
                       (resp ? " (HTTP " + std::to_string(resp->status) + ")" : ": " + resp.error().message) +
                       "; Medication is incomplete for this run");
        incomplete("Medication");
        continue;
      }
      Page page;
      page.label = "Medication search";
      json::for_each(json::member(doc, "entry"), [&](std::size_t k, const json::Value& e) {
        const json::Value* res = json::member(e, "resource");
        if (!res || json::string(json::member(*res, "resourceType")).value_or("") != "Medication") return;
        auto ex =
            fhir::extract_resource(*res, fhir::Origin{where + " entry[" + std::to_string(k) + "]"}, issues);
        if (!ex.resource) return;
        if (self.keep_raw_) fhir::header(*ex.resource).raw = json::serialize(*res);
        page.resources.push_back(std::move(*ex.resource));
      });
      deliver(page);
    }
  }

  // Is every member of the Group a patient the state store already holds? Reads the Group resource; when it
  // cannot be read, or names a patient not seen before, the answer is no and the night exports in full (a
  // _since export may leave out a new member's older data: Bulk Data IG, _since on Group-level requests).
  bool group_unchanged() {
    auto url = transport::resolve(base, base.path() + "/Group/" + transport::percent_encode(o.group_id));
    if (!url) return false;
    transport::Request req;
    req.url = *url;
    req.headers = {{"Accept", "application/fhir+json"}};
    auto resp = send(*self.client_, req, true);
    json::Document doc;
    json::ParseError perr;
    if (!resp || resp->status != 200 || !json::parse(resp->body, doc, perr) ||
        json::string(json::member(doc, "resourceType")).value_or("") != "Group") {
      log("warning: could not read Group/" + o.group_id + " (" +
          (!resp ? resp.error().message : "HTTP " + std::to_string(resp->status)) +
          ") to look for new members: exporting everything instead of the changes since " + self.since_);
      return false;
    }
    std::size_t added = 0;
    json::for_each(json::member(doc, "member"), [&](std::size_t, const json::Value& m) {
      const std::string ref(json::string(json::member(json::member(&m, "entity"), "reference")).value_or(""));
      const std::string id = fhir::patient_id_from_reference(ref);
      if (id.empty() || !self.known_.count(id)) ++added;
    });
    if (added == 0) return true;
    log(std::to_string(added) + " member(s) of Group/" + o.group_id +
        " are new since the last night (or not plain Patient references): exporting everything, since a "
        "_since export may leave out their older data");
    return false;
  }

  bool restarted = false;  // run() again after dropping a resumed job that held only changes

  Status run(const Sink& s) {
    sink = &s;
    auto b = Url::parse(o.base_url);
    if (!b) return Error{b.error().message, "FHIR base URL"};
    base = *b;
    if (o.level == BulkLevel::group && !fhir::valid_id(o.group_id))
      return make_error("a Group export needs a valid Group id", "bulk export");
    if (o.concurrency < 1 || o.page_size == 0 || o.min_poll_interval.count() < 10 ||
        o.poll_interval < o.min_poll_interval || o.max_poll_interval < o.poll_interval)
      return make_error(
          "invalid options: concurrency >= 1, page size >= 1, 10 ms <= min poll <= poll <= max poll",
          "bulk export");
    requested.insert(o.types.begin(), o.types.end());
    if (o.smart && !restarted)
      if (auto st = mark_types_not_granted(*o.smart, o.types, self.completeness_, issues, base.redacted(),
                                           [this](const std::string& l) { log(l); });
          !st)
        return st;

    // 1-2: kick-off (or resume) and poll until the manifest is ready.
    std::optional<Url> status;
    bool resumed = false;
    if (!self.resume_url_.empty()) {
      auto u = Url::parse(self.resume_url_);
      if (u && check_server_url(*u, "the saved status URL")) {
        status = *u;
        resumed = true;
        self.counters_.resumed = true;
        log("resuming the export job of an earlier run: " + u->redacted());
      } else {
        log("warning: the saved status URL is unusable; starting a new export");
      }
    }
    if (!resumed && o.level == BulkLevel::group && !self.since_.empty() && !group_unchanged())
      self.since_.clear();
    PollResult polled;
    for (int round = 0;; ++round) {
      if (!status) {
        auto k = kickoff();
        if (!k) return k.error();
        status = *k;
        resumed = false;
        if (self.on_status_url_) self.on_status_url_(status->str());
      }
      polled = poll(*status);
      if (polled.end == PollEnd::gone && resumed && round == 0) {
        log("the resumed export job is gone (" + polled.error.message + "); starting a new export");
        if (self.on_status_url_) self.on_status_url_("");
        status.reset();
        continue;
      }
      break;
    }
    // RELIABILITY B4/B11: at the deadline or a stop signal, a job the next run will resume (a state folder
    // keeps its status URL) is kept; otherwise it is deleted below, so that it does not run on for nobody.
    if ((polled.end == PollEnd::deadline || polled.end == PollEnd::stopped) && self.on_status_url_) {
      log(std::string(polled.end == PollEnd::deadline ? "the export is still running at the deadline"
                                                      : "stopped while the export runs") +
          ": the job is kept for the next run to resume");
      return polled.error;
    }
    if (polled.end != PollEnd::ready) {
      delete_job(*status);
      if (self.on_status_url_) self.on_status_url_("");
      return polled.error;
    }

    // 3: the manifest.
    auto manifest = read_manifest(polled.body, *status);
    if (!manifest) {
      delete_job(*status);
      if (self.on_status_url_) self.on_status_url_("");
      return manifest.error();
    }
    self.watermark_ = manifest->transaction_time;
    status_url = *status;
    manifest_at = Clock::now();
    manifest_time = manifest->transaction_time;
    if (!manifest->request.empty()) {
      auto q = manifest->request.find('?');
      self.changes_only_ =
          q != std::string::npos && (manifest->request.find("_since=", q) != std::string::npos);
    } else {
      self.changes_only_ = !self.since_.empty() || resumed;
    }
    // A resumed job that holds only changes cannot serve a run that needs everything (--full, or a trial
    // definition or mappings changed since): what the store kept would stand in for what the server no
    // longer has, and recoded resources would be filtered out. Dropped, and a full export started.
    if (resumed && self.since_.empty() && self.changes_only_ && !restarted) {
      log("the resumed export job holds only changes, and this run needs everything: starting a new export");
      delete_job(*status);
      if (self.on_status_url_) self.on_status_url_("");
      self.resume_url_.clear();
      self.counters_.resumed = false;
      self.changes_only_ = false;
      restarted = true;
      return run(s);
    }
    std::size_t expected = 0;
    for (const auto& f : manifest->output) expected += f.count.value_or(0);
    log("export ready: " + std::to_string(manifest->output.size()) + " file(s) (" + std::to_string(expected) +
        " resources announced), " + std::to_string(manifest->errors.size()) + " error file(s), " +
        std::to_string(manifest->deleted.size()) + " deleted file(s)" +
        (self.changes_only_ ? ", changes only" : "") + ", transactionTime " +
        (self.watermark_.empty() ? std::string("invalid") : self.watermark_));

    // 4: deleted first (so a resource both exported and deleted counts as deleted), then outputs, then
    // errors.
    for (const auto& f : manifest->deleted) read_deleted(f, manifest->requires_token);
    std::vector<const FileRef*> outputs;
    for (const auto& f : manifest->output) {
      if (!requested.count(f.type)) {
        issues.add(Severity::warning, "bulk-manifest", "manifest", "", "output.type",
                   "a file of type '" + clean_text(f.type, 40) + "', which was not requested: not read");
        continue;
      }
      outputs.push_back(&f);
    }
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t i; (i = next.fetch_add(1)) < outputs.size();)
        read_output(*outputs[i], i, manifest->requires_token);
    };
    std::vector<std::thread> threads;
    const int n = std::max(1, std::min<int>(o.concurrency, static_cast<int>(outputs.size())));
    for (int i = 0; i < n; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    for (const auto& f : manifest->errors) read_errors(f, manifest->requires_token);

    // 5: Medications outside the Patient compartment.
    if (o.fetch_referenced_medications && requested.count("Medication")) fetch_medications();

    self.deleted_.assign(deleted.begin(), deleted.end());
    self.counters_.deleted = self.deleted_.size();
    // 6: the job is done on our side.
    delete_job(*status);
    if (self.on_status_url_) self.on_status_url_("");
    return Status::success();
  }
};

Status BulkSource::read(const Sink& sink, IssueLog& issues) {
  Impl impl(*this, issues);
  return impl.run(sink);
}

}  // namespace cf::source
