#include "source/rest_source.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_set>

#include "core/text.hpp"
#include "fhir/extract.hpp"
#include "fhir/reference.hpp"
#include "json/json.hpp"
#include "transport/retry_after.hpp"
#include "transport/url.hpp"

namespace cf::source {

namespace {

using transport::Url;

struct Query {
  std::string label;                  // "Observation (patients 1-40)" for logs: no ids, no PHI
  std::string relative;               // "Observation?patient=...&_count=1000"
  std::vector<std::string> patients;  // whose data it delivers (empty: every patient)
  std::vector<std::string> types;     // resource types it delivers
  bool seed = false;
  // RELIABILITY P9: the first page is asked for with POST [type]/_search and `relative`'s parameters in a
  // form body, so that patient ids stay out of URLs (and the access logs of every proxy on the way).
  bool post = false;
};

std::string join(const std::vector<std::string>& v, std::size_t from, std::size_t to, char sep = ',') {
  std::string s;
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) s += sep;
    s += v[i];
  }
  return s;
}

// Percent-encodes a query value (system URLs contain ':' and '/', which are allowed, and '|', which is not).
std::string encode(std::string_view v) {
  return transport::percent_encode(v, ":/,");
}

}  // namespace

struct RestSource::Impl {
  RestSource& self;
  Url base;
  std::mutex mu;                         // guards the sink, stats, completeness, counters and the seen set
  std::unordered_set<std::string> seen;  // "Type/id/_history/version" already delivered

  explicit Impl(RestSource& s) : self(s) {}

  void log(const std::string& line) {
    if (self.opts_.log) self.opts_.log(line);
  }

  transport::Request get(const Url& url) {
    transport::Request r;
    r.url = url;
    r.headers.emplace_back("Accept", "application/fhir+json");
    if (!self.opts_.authorization.empty()) r.headers.emplace_back("Authorization", self.opts_.authorization);
    return r;
  }

  // The first page of `q`: GET [base]/[relative], or POST [base]/[type]/_search with the parameters as a
  // form body.
  Result<transport::Request> first_request(const Query& q) {
    const std::size_t mark = q.relative.find('?');
    const std::string path = q.post ? q.relative.substr(0, mark) + "/_search" : q.relative;
    auto url = transport::resolve(base, base.path() + "/" + path);
    if (!url) return Error{url.error().message, "query " + q.label};
    transport::Request r = get(*url);
    if (q.post) {
      r.method = "POST";
      r.safe = true;
      r.body = mark == std::string::npos ? "" : q.relative.substr(mark + 1);
      r.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    }
    return r;
  }

  // `status`, when given, receives the HTTP status of a response that is not 200.
  Result<transport::Response> fetch(const Url& url, int* status = nullptr) { return fetch(get(url), status); }
  Result<transport::Response> fetch(transport::Request req, int* status = nullptr) {
    std::string used;
    if (self.opts_.smart) {
      auto a = self.opts_.smart->authorization();
      if (!a) return a.error();
      used = std::move(*a);
      req.headers.emplace_back("Authorization", used);
    }
    auto resp = self.client_->send(req);
    if (!resp) return resp.error();
    if (resp->status == 401 && self.opts_.smart) {
      // The token was revoked or expired early: one new token and one repeat (RELIABILITY A3), not a retry.
      auto a = self.opts_.smart->reauthorize(used);
      if (!a) return a.error();
      req.headers.back().second = *a;
      resp = self.client_->send(req);
      if (!resp) return resp.error();
    }
    if (resp->status != 200 && status) *status = resp->status;
    if (resp->status != 200)
      return make_error(
          "HTTP " + std::to_string(resp->status) + " after " + std::to_string(resp->attempts) + " attempt(s)",
          req.method + " " + req.url.redacted());
    return resp;
  }

  Status check_metadata(IssueLog& issues) {
    auto url = transport::resolve(base, base.path() + "/metadata");
    if (!url) return url.error();
    auto resp = fetch(*url);
    if (!resp) return resp.error();
    // The server's clock before any data is read: the next incremental pull starts from here (never our
    // clock).
    if (auto t = transport::parse_http_date(resp->header("date"), std::chrono::system_clock::now())) {
      std::time_t tt = std::chrono::system_clock::to_time_t(*t);
      std::tm tm{};
      gmtime_r(&tt, &tm);
      char buf[32];
      std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
      self.watermark_ = buf;
    }
    json::Document doc;
    json::ParseError err;
    if (!json::parse(resp->body, doc, err))
      return make_error("CapabilityStatement is not valid JSON: " + err.message, "GET " + url->redacted());
    std::vector<std::string> problems;
    std::string version(json::string(json::member(doc, "fhirVersion")).value_or(""));
    if (version.rfind("4.0", 0) != 0)
      problems.push_back("server reports FHIR version '" + sanitize_for_log(version, 20) + "', not 4.0.x");
    // Which search parameters each resource type supports.
    std::map<std::string, std::set<std::string>> params;
    json::for_each(json::member(doc, "rest"), [&](std::size_t, const json::Value& rest) {
      json::for_each(json::member(rest, "resource"), [&](std::size_t, const json::Value& r) {
        std::string type(json::string(json::member(r, "type")).value_or(""));
        json::for_each(json::member(r, "searchParam"), [&](std::size_t, const json::Value& p) {
          params[type].insert(std::string(json::string(json::member(p, "name")).value_or("")));
        });
      });
    });
    const std::vector<std::pair<std::string, std::string>> needed = {
        {"Condition", "code"},      {"Condition", "patient"},         {"Observation", "code"},
        {"Observation", "patient"}, {"MedicationRequest", "patient"}, {"Procedure", "patient"},
        {"Patient", "_id"}};
    for (const auto& [type, p] : needed) {
      if (p == "_id") continue;  // a standard parameter that servers often leave out of the statement
      if (!params[type].count(p)) problems.push_back(type + " does not list search parameter '" + p + "'");
    }
    for (const auto& p : problems) {
      issues.add(Severity::warning, "server-capability", "GET " + url->redacted(), "", "CapabilityStatement",
                 p);
      log("warning: " + p);
    }
    if (!problems.empty() && self.opts_.strict_metadata)
      return make_error("the server does not fit the query plan: " + problems.front(),
                        "GET " + url->redacted());
    return Status::success();
  }

  // What one page held, before its resources are handed on.
  struct ParsedPage {
    std::vector<fhir::Resource> resources;
    std::string next;
    std::size_t entries = 0;             // entries with a resource, outcomes excluded
    std::size_t matches = 0;             // of those, search.mode match (the default)
    std::optional<std::uint64_t> total;  // Bundle.total when present
    std::size_t fingerprint = 0;         // of the entries' type/id/version/lastUpdated, in order
  };

  // Runs one search to its last page. `on_resource` receives every resource (search.mode match or include).
  Status run(const Query& q, IssueLog& issues, const std::function<void(fhir::Resource&&)>& on_resource) {
    auto first = first_request(q);
    if (!first) return first.error();
    {
      std::lock_guard lock(mu);
      self.sent_.push_back(q.post ? "POST " + q.relative.substr(0, q.relative.find('?')) + "/_search " +
                                        first->body
                                  : "GET " + q.relative);
    }
    transport::Request req = *first;  // the page asked for next: the first, then a GET of each next link
    const Url& url = req.url;
    std::set<std::string> visited;
    std::unordered_set<std::size_t> seen_pages;  // fingerprints of the non-empty pages read so far (P-7)
    std::size_t empty_in_a_row = 0, matches = 0;
    bool oversized_noted = false, restarted = false;
    std::uint64_t total = 0;
    bool has_total = false;
    for (std::size_t page = 1;; ++page) {
      if (page > self.opts_.max_pages_per_query)
        return make_error(
            "more than " + std::to_string(self.opts_.max_pages_per_query) + " pages: runaway paging",
            req.method + " " + url.redacted());
      if (!visited.insert(req.method + " " + url.str()).second)
        return make_error("paging loop: a next link repeats an earlier page",
                          req.method + " " + url.redacted());
      int status = 0;
      auto resp = fetch(req, &status);
      if (!resp && page == 1 && req.method == "POST" && (status == 404 || status == 405 || status == 501))
        return make_error(resp.error().message +
                              ": the server does not take searches as POST [type]/_search; setting "
                              "search_by_get (--search-by-get true) sends patient ids in URLs instead",
                          resp.error().context);
      if (!resp && page > 1 && (status == 404 || status == 410) && !restarted) {
        // RELIABILITY P7: the server forgot the search's paging state (it expires on many servers). Read the
        // search again from page 1, once; versions already delivered are kept once (deliver()), and no page
        // is skipped.
        restarted = true;
        issues.add(Severity::warning, "paging-restarted", "GET " + url.redacted(), "", "",
                   q.label + ": page " + std::to_string(page) + " answered HTTP " + std::to_string(status) +
                       " (paging state expired?): the search was read again from page 1");
        log("paging state of " + q.label + " gone at page " + std::to_string(page) + " (HTTP " +
            std::to_string(status) + "): reading it again from page 1");
        req = *first;
        visited.clear();
        seen_pages.clear();
        empty_in_a_row = matches = 0;
        page = 0;
        continue;
      }
      if (!resp) return resp.error();
      {
        std::lock_guard lock(mu);
        ++self.counters_.pages;
      }
      ParsedPage parsed;
      if (auto st = parse_page(*resp, req, page, issues, parsed); !st) return st;
      const std::string where = req.method + " " + url.redacted();
      // Runaway checks (P4) come before the page's resources are used: a runaway page may hold anything.
      if (parsed.entries > 0 && !seen_pages.insert(parsed.fingerprint).second)
        return make_error("paging loop: page " + std::to_string(page) +
                              " repeats the entries of an earlier page under a new link",
                          where);
      // RELIABILITY P8: a page larger than the _count asked for is kept (nothing is dropped), and noted once
      // per search: a server that ignores _count may also page in ways the client did not plan for.
      if (parsed.entries > static_cast<std::size_t>(std::max(self.opts_.page_size, 1)) && !oversized_noted) {
        oversized_noted = true;
        issues.add(Severity::warning, "page-size-exceeded", where, "", "Bundle.entry",
                   "page " + std::to_string(page) + " holds " + std::to_string(parsed.entries) +
                       " entries, more than the _count=" + std::to_string(self.opts_.page_size) +
                       " asked for: all kept");
      }
      empty_in_a_row = parsed.entries == 0 && !parsed.next.empty() ? empty_in_a_row + 1 : 0;
      if (self.opts_.max_empty_pages > 0 && empty_in_a_row >= self.opts_.max_empty_pages)
        return make_error(std::to_string(empty_in_a_row) +
                              " empty pages in a row still link to a next page: "
                              "runaway paging",
                          where);
      if (parsed.total) {
        if (!has_total) {
          std::lock_guard lock(mu);
          self.counters_.expected += static_cast<std::size_t>(*parsed.total);
        }
        total = std::max(total, *parsed.total);
        has_total = true;
      }
      matches += parsed.matches;
      // Duplicates across pages are normal when data changes during paging (P5), so only far more than
      // announced counts as runaway: twice Bundle.total plus one page.
      if (has_total && matches > 2 * total + static_cast<std::uint64_t>(std::max(self.opts_.page_size, 1)))
        return make_error("the search returned " + std::to_string(matches) + " matches but Bundle.total is " +
                              std::to_string(total) + ": runaway paging",
                          where);
      deliver_page(parsed, on_resource);
      if (self.opts_.progress) {
        RestProgress p;
        {
          std::lock_guard lock(mu);
          p = {self.counters_.queries - self.counters_.failed_queries, self.counters_.queries_planned,
               self.counters_.pages, self.counters_.resources, self.counters_.expected};
        }
        self.opts_.progress(p);
      }
      if (parsed.next.empty()) return Status::success();
      auto n = transport::resolve(url, parsed.next);
      if (!n) return make_error("unusable next link: " + n.error().message, where);
      if (!transport::same_origin(*n, base))
        return make_error("next link leaves the server (" + n->redacted() +
                              "): not followed, so no credentials go "
                              "elsewhere",
                          where);
      // Same origin but outside the base path (another tenant or application on that host, P3). The base
      // itself is inside: HAPI FHIR pages with "[base]?_getpages=...".
      if (const std::string prefix = base.path() + "/";
          n->path() != base.path() && n->path() != prefix && n->path().rfind(prefix, 0) != 0)
        return make_error("next link leaves the FHIR base path (" + n->redacted() + "): not followed", where);
      // As given (P1): a server that copies the search's parameters into its next links puts them in a URL.
      req = get(*n);
    }
  }

  // Relative references, or absolute ones on this server's base, name local patients.
  void deliver_page(ParsedPage& parsed, const std::function<void(fhir::Resource&&)>& on_resource) {
    const std::string prefix = base.str() + "/";
    for (auto& r : parsed.resources) {
      fhir::Header& h = fhir::header(r);
      std::string ref = h.subject;
      if (ref.rfind(prefix, 0) == 0) ref = ref.substr(prefix.size());
      if (h.type == fhir::ResourceType::patient)
        h.patient_id = h.id;
      else if (ref.find("://") == std::string::npos)
        h.patient_id = fhir::patient_id_from_reference(ref);
      on_resource(std::move(r));
    }
  }

  Status parse_page(const transport::Response& resp, const transport::Request& req, std::size_t page,
                    IssueLog& issues, ParsedPage& out) {
    const Url& url = req.url;
    const std::string where = req.method + " " + url.redacted();
    std::FILE* f = fmemopen(const_cast<char*>(resp.body.data()), resp.body.size(), "rb");
    if (!f) return make_error("cannot read the response body", where);
    json::Document root;
    json::ParseError err;
    json::StreamCallbacks cb;
    std::size_t rejected = 0, outcome_errors = 0;
    std::string prints;  // type/id/version/lastUpdated of every entry, for the repeated-page check
    cb.on_entry = [&](std::size_t i, json::Document& entry) {
      const json::Value* res = json::member(entry, "resource");
      const std::string loc =
          "page " + std::to_string(page) + " of " + url.path() + " entry[" + std::to_string(i) + "]";
      if (!res) {
        issues.add(Severity::warning, "bad-bundle-entry", loc, "", "Bundle.entry.resource",
                   "entry has no resource");
        return;
      }
      std::string mode(json::string(json::member(json::member(entry, "search"), "mode")).value_or("match"));
      if (json::string(json::member(*res, "resourceType")).value_or("") == "OperationOutcome" ||
          mode == "outcome") {
        std::string diag;
        bool serious = false;
        json::for_each(json::member(*res, "issue"), [&](std::size_t, const json::Value& is) {
          const std::string severity(json::string(json::member(is, "severity")).value_or(""));
          serious = serious || severity == "error" || severity == "fatal";
          diag += severity + ": " + std::string(json::string(json::member(is, "diagnostics")).value_or("")) +
                  "; ";
        });
        if (serious) ++outcome_errors;
        issues.add(serious ? Severity::error : Severity::warning, "operation-outcome", loc, "",
                   "Bundle.entry.resource",
                   "server note in the search results: " + sanitize_for_log(diag, 300));
        return;
      }
      ++out.entries;
      if (mode == "match") ++out.matches;
      const json::Value* meta = json::member(*res, "meta");
      for (const json::Value* v : {json::member(*res, "resourceType"), json::member(*res, "id"),
                                   json::member(meta, "versionId"), json::member(meta, "lastUpdated")}) {
        prints += json::string(v).value_or("");
        prints += '\x1f';
      }
      prints += '\x1e';
      auto ex = fhir::extract_resource(*res, fhir::Origin{loc}, issues);
      if (ex.rejected) {
        ++rejected;
        return;
      }
      if (!ex.resource) return;
      if (self.keep_raw_) fhir::header(*ex.resource).raw = json::serialize(*res);
      out.resources.push_back(std::move(*ex.resource));
    };
    cb.on_skipped = [&](std::size_t i, const std::string& why) {
      ++rejected;
      issues.add(Severity::error, "bad-bundle-entry",
                 "page " + std::to_string(page) + " entry[" + std::to_string(i) + "]", "", "Bundle.entry",
                 why);
    };
    const bool ok = json::stream_object_file(f, root, cb, err);
    std::fclose(f);
    if (!ok)
      return make_error(
          "page is not valid JSON (" + err.message + " at line " + std::to_string(err.line) + ")", where);
    if (json::string(json::member(root, "resourceType")).value_or("") != "Bundle")
      return make_error("response is not a Bundle", where);
    std::string type(json::string(json::member(root, "type")).value_or(""));
    if (type != "searchset")
      issues.add(Severity::warning, "bundle-type", where, "", "Bundle.type",
                 "search returned Bundle.type '" + sanitize_for_log(type, 30) + "'");
    json::for_each(json::member(root, "link"), [&](std::size_t, const json::Value& l) {
      if (json::string(json::member(l, "relation")).value_or("") == "next")
        out.next = std::string(json::string(json::member(l, "url")).value_or(""));
    });
    if (auto t = json::number_text(json::member(root, "total"));
        t && !t->empty() && t->size() <= 15 && t->find_first_not_of("0123456789") == std::string_view::npos)
      out.total = std::stoull(std::string(*t));
    out.fingerprint = std::hash<std::string>{}(prints);
    if (rejected) {
      // A resource we could not read is lost data: the query cannot be complete.
      return make_error(std::to_string(rejected) + " entries could not be read", where);
    }
    if (outcome_errors) {
      // The server says something went wrong with this search: its results cannot be taken as complete (D10).
      return make_error("the server reported an error or fatal OperationOutcome in the search results",
                        where);
    }
    return Status::success();
  }
};

RestSource::RestSource(RestOptions opts, RestPlan plan, std::shared_ptr<transport::HttpClient> client)
    : opts_(std::move(opts)), plan_(std::move(plan)), client_(std::move(client)) {}

std::vector<std::string> RestSource::queries() const {
  return sent_;
}

std::string RestSource::describe() const {
  return "fhir:" + opts_.base_url;
}

Status RestSource::read(const Sink& sink, IssueLog& issues) {
  Impl impl(*this);
  auto base = transport::Url::parse(opts_.base_url);
  if (!base) return Error{base.error().message, "FHIR base URL"};
  impl.base = *base;
  if (!impl.base.target.empty() && impl.base.target.back() == '/') impl.base.target.pop_back();
  if (auto st = impl.check_metadata(issues); !st) return st;
  const std::string count = "_count=" + std::to_string(opts_.page_size);
  auto deliver = [&](fhir::Resource&& r) {
    fhir::Header& h = fhir::header(r);
    std::lock_guard lock(impl.mu);
    // Without a versionId, copies that differ in lastUpdated are different versions: both go on, and the
    // collector keeps the newer (the first one seen would otherwise win).
    const std::string key =
        h.key() + "/_history/" + (h.version_id.empty() ? "@" + h.last_updated : h.version_id);
    ++counters_.resources;
    if (!impl.seen.insert(key).second) return;  // the same version on two pages (P-10): kept once
    ++stats_.read_by_type[fhir::to_string(h.type)];
    if (h.patient_id.empty() && h.type != fhir::ResourceType::medication) {
      // A subject on another server (deliver_page took this server's own absolute ones) may name our patient
      // of that id: never taken for theirs, never fetched (RELIABILITY H1), but their decisions on the type
      // are unknown, as from files.
      const bool foreign = h.subject.find("://") != std::string::npos;
      const std::string type(fhir::to_string(h.type));
      issues.add(Severity::warning, "unattributed-resource", h.origin.location, h.key(), type + ".subject",
                 foreign ? kForeignSubject : "subject is not a Patient of this server");
      if (auto named = foreign_subject_patient(h.subject); !named.empty())
        completeness_.foreign_types[named].insert(type);
    }
    Page p;
    p.label = h.origin.location;
    p.resources.push_back(std::move(r));
    sink(std::move(p));
  };

  // Runs queries on `concurrency` threads; returns the first error of a seed query, records the others.
  auto run_all = [&](const std::vector<Query>& qs,
                     const std::function<void(const Query&, fhir::Resource&&)>& each) -> Status {
    std::atomic<std::size_t> next{0};
    {
      std::lock_guard lock(impl.mu);
      counters_.queries_planned += qs.size();
    }
    Status fatal;
    std::mutex fatal_mu;
    auto worker = [&] {
      for (std::size_t i; (i = next.fetch_add(1)) < qs.size();) {
        const Query& q = qs[i];
        {
          std::lock_guard lock(impl.mu);
          ++counters_.queries;
        }
        auto st = impl.run(q, issues, [&](fhir::Resource&& r) { each(q, std::move(r)); });
        if (st) continue;
        std::lock_guard lock(impl.mu);
        ++counters_.failed_queries;
        issues.add(Severity::error, "query-failed", st.error().context, "", "",
                   q.label + ": " + st.error().message + "; the data it should have delivered is incomplete");
        impl.log("query failed: " + q.label + ": " + st.error().what());
        if (q.seed) {
          std::lock_guard f(fatal_mu);
          if (fatal) fatal = st;
          continue;
        }
        for (const auto& t : q.types) {
          if (q.patients.empty())
            completeness_.run_types.insert(t);
          else
            for (const auto& p : q.patients) completeness_.patient_types[p].insert(t);
        }
      }
    };
    std::vector<std::thread> threads;
    const int n = std::max(1, std::min<int>(opts_.concurrency, static_cast<int>(qs.size())));
    for (int i = 0; i < n; ++i) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    return fatal;
  };

  const std::string obs_codes = encode(join(plan_.observation_codes, 0, plan_.observation_codes.size()));
  const std::string obs_since = plan_.observation_since.empty() ? "" : "&date=ge" + plan_.observation_since;
  struct TypeQuery {
    const char* type;
    std::string extra;
  };
  std::vector<TypeQuery> expand = {
      {"Patient", ""},
      {"Observation", (obs_codes.empty() ? "" : "&code=" + obs_codes) + obs_since},
      {"Condition", ""},
      {"MedicationRequest", "&_include=MedicationRequest:medication"},
      {"MedicationStatement", "&_include=MedicationStatement:medication"},
      {"MedicationAdministration", "&_include=MedicationAdministration:medication"},
      {"Procedure", ""}};
  // Observations recognised only by their text (a local SLEDAI-2K score) are not found by code.
  if (!obs_codes.empty())
    for (const auto& t : plan_.observation_texts)
      expand.push_back({"Observation", "&code:text=" + encode(t) + obs_since});

  const std::string since = plan_.since.empty() ? "" : "&_lastUpdated=gt" + encode(plan_.since);
  // The searches for changes ask for every changed Observation, not only those with a mapped code or text:
  // one recoded since the last night must still come, to replace the version the state store kept.
  std::vector<TypeQuery> changes;
  for (const auto& tq : expand)
    if (std::string(tq.type) != "Observation")
      changes.push_back(tq);
    else if (tq.extra.find("&code:text=") == std::string::npos)
      changes.push_back({"Observation", obs_since});
  // The Medications a medication search includes come only from that search: they fail with it.
  auto types_of = [](const std::string& type) {
    std::vector<std::string> t{type};
    if (type.starts_with("Medication")) t.push_back("Medication");
    return t;
  };
  if (opts_.smart) {  // the types these searches deliver, each needing the grant
    std::set<std::string> types;
    for (const auto& tq : expand)
      for (auto& t : types_of(tq.type)) types.insert(std::move(t));
    auto st = mark_types_not_granted(*opts_.smart, {types.begin(), types.end()}, completeness_, issues,
                                     impl.base.redacted(), [&impl](const std::string& l) { impl.log(l); });
    if (!st) return st;
  }
  std::vector<Query> queries;
  if (plan_.population) {
    for (const auto& tq : plan_.since.empty() ? expand : changes)
      queries.push_back({std::string(tq.type) + " (all patients)",
                         std::string(tq.type) + "?" + count + tq.extra + since,
                         {},
                         types_of(tq.type),
                         false});
    return run_all(queries, [&](const Query&, fhir::Resource&& r) { deliver(std::move(r)); });
  }

  // Seeds: who is worth reading. Their resources are read again by the expansion, so only ids are kept here.
  std::set<std::string> seeds;
  std::vector<Query> seed_queries;
  if (!plan_.seed_conditions.empty())
    seed_queries.push_back(
        {"Condition seeds",
         "Condition?code=" + encode(join(plan_.seed_conditions, 0, plan_.seed_conditions.size())) + "&" +
             count,
         {},
         {},
         true});
  if (!plan_.seed_observations.empty())
    seed_queries.push_back(
        {"Observation seeds",
         "Observation?code=" + encode(join(plan_.seed_observations, 0, plan_.seed_observations.size())) +
             "&" + count,
         {},
         {},
         true});
  auto st = run_all(seed_queries, [&](const Query&, fhir::Resource&& r) {
    const auto& h = fhir::header(r);
    std::lock_guard lock(impl.mu);
    if (!h.patient_id.empty() && (!plan_.keep_patient || plan_.keep_patient(h.patient_id)))
      seeds.insert(h.patient_id);
  });
  if (!st) return st;
  // New seed patients are read in full. Every patient the state store holds is read for changes, whether
  // or not a seed search finds them tonight: their stored resources are evaluated again, and one recoded so
  // that it no longer matches a seed code (SLE to drug-induced lupus) must replace the stored version.
  std::vector<std::string> known, fresh;
  for (const auto& id : seeds)
    if (plan_.since.empty() || !plan_.known_patients.count(id)) fresh.push_back(id);
  if (!plan_.since.empty())
    for (const auto& id : plan_.known_patients)
      if (!plan_.keep_patient || plan_.keep_patient(id)) known.push_back(id);
  impl.log("seed patients: " + std::to_string(seeds.size()) +
           (plan_.since.empty() ? ""
                                : " (" + std::to_string(fresh.size()) + " new; changes since " + plan_.since +
                                      " for the " + std::to_string(known.size()) + " stored)"));

  for (int pass = 0; pass < 2; ++pass)
    for (const auto& tq : pass == 0 ? expand : changes) {
      const std::vector<std::string>& ids = pass == 0 ? fresh : known;
      if (ids.empty()) continue;
      const std::string param = std::string(tq.type) == "Patient" ? "_id" : "patient";
      const std::string head = std::string(tq.type) + "?" + param + "=";
      const std::string tail = "&" + count + tq.extra + (pass == 1 ? since : "");
      const std::size_t budget =
          opts_.max_url_bytes > impl.base.str().size() + head.size() + tail.size() + 64
              ? opts_.max_url_bytes - impl.base.str().size() - head.size() - tail.size() - 64
              : 256;
      for (std::size_t i = 0; i < ids.size();) {
        std::size_t j = i, len = 0;
        while (j < ids.size() && (j == i || len + ids[j].size() + 1 <= budget)) len += ids[j++].size() + 1;
        Query q;
        q.label =
            std::string(tq.type) + " (patients " + std::to_string(i + 1) + "-" + std::to_string(j) + ")";
        q.relative = head + encode(join(ids, i, j)) + tail;
        q.patients.assign(ids.begin() + static_cast<long>(i), ids.begin() + static_cast<long>(j));
        q.types = types_of(tq.type);
        q.post = !opts_.search_by_get;
        queries.push_back(std::move(q));
        i = j;
      }
    }
  return run_all(queries, [&](const Query&, fhir::Resource&& r) { deliver(std::move(r)); });
}

}  // namespace cf::source
