#pragma once
// Pulls the cohort from a FHIR R4 REST server (RELIABILITY.md P-items):
//   1. GET [base]/metadata: FHIR 4.0.x and the search parameters the plan uses (warn or fail);
//   2. seed: Condition?code=<SLE codes> and Observation?code=<serology codes> find the patients worth reading
//      (or, in population mode, every Patient);
//   3. expand: for chunks of seed patients, Patient?_id=..., Observation?patient=...&code=<mapped codes>,
//      Condition, MedicationRequest (+ _include of Medication), MedicationStatement, MedicationAdministration
//      and Procedure?patient=..., in parallel, each sent as POST [type]/_search with a form body so that
//      patient ids stay out of URLs and access logs (P9).
// Paging follows Bundle.link[next] exactly as given and only on the base URL's origin and path (P1-P3). A
// loop or runaway paging stops the query (P4): a repeated next URL, a page whose entries repeat an earlier
// page of the same search, too many empty pages in a row that still link onwards, far more entries than
// Bundle.total announced, or the page cap. An OperationOutcome entry of severity error or fatal in the
// results also fails the query (P6, D10). A query that fails leaves its patients' data incomplete, so their
// decisions that depend on it are "unknown", never "not met" (D10). A failing seed or metadata query fails
// the run.
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "source/source.hpp"
#include "transport/http_client.hpp"
#include "transport/smart_auth.hpp"

namespace cf::source {

struct RestPlan {
  bool population = false;                   // every Patient instead of seeds
  std::vector<std::string> seed_conditions;  // "system|code" tokens of the anchor diagnosis
  std::vector<std::string> seed_observations;
  std::vector<std::string>
      observation_codes;  // "system|code" of every mapped observation concept (empty: all)
  std::vector<std::string> observation_texts;  // text patterns: also searched with code:text (prefix match)
  std::string observation_since;               // "YYYY-MM-DD": only results dated on or after (empty: all)
  // Incremental pull: only resources changed after this instant (_lastUpdated=gt), for the patients already
  // known; seeds are always searched in full and new seed patients are read in full.
  std::string since;
  std::set<std::string> known_patients;
  // A shard of the run reads only its own seed patients.
  std::function<bool(const std::string&)> keep_patient;
};

struct RestProgress {
  std::size_t queries_done = 0, queries_planned = 0, pages = 0, resources = 0, expected = 0;
};

struct RestOptions {
  std::string base_url;
  int page_size = 1000;
  int concurrency = 4;
  std::size_t max_pages_per_query = 10000;
  std::size_t max_empty_pages = 10;  // consecutive empty pages that still carry a next link (0: no limit)
  std::size_t max_url_bytes = 8000;  // patient lists are chunked to keep URLs (or POST bodies) under this
  // Searches naming patients go as POST [type]/_search with a form body (P9) unless this is set: then the
  // patient ids go in the URL, for a server that takes no POST searches.
  bool search_by_get = false;
  bool strict_metadata = false;                 // fail instead of warn when /metadata does not fit the plan
  std::string authorization;                    // full Authorization header value, or empty (never logged)
  std::shared_ptr<transport::SmartAuth> smart;  // SMART Backend Services: supplies Authorization when set
  std::function<void(const std::string&)> log;  // progress and warnings, one line each, no PHI
  std::function<void(const struct RestProgress&)> progress;  // after every page
};

class RestSource : public Source {
 public:
  RestSource(RestOptions opts, RestPlan plan, std::shared_ptr<transport::HttpClient> client);
  std::string describe() const override;
  Status read(const Sink& sink, IssueLog& issues) override;
  const Stats& stats() const override { return stats_; }
  const Completeness& completeness() const override { return completeness_; }
  bool supports_incremental() const override { return true; }
  void pull_changes_since(const std::string& since, std::set<std::string> known) override {
    plan_.since = since;
    plan_.known_patients = std::move(known);
  }
  bool delivered_changes_only() const override { return !plan_.since.empty(); }
  std::string watermark() const override { return watermark_; }
  std::vector<std::string> queries() const override;

  struct Counters {
    std::size_t queries = 0, pages = 0, resources = 0, failed_queries = 0;
    std::size_t queries_planned = 0;  // of the current phase (seeds, then expansion)
    std::size_t expected = 0;         // sum of Bundle.total of the searches started so far (for an ETA)
  };
  Counters counters() const { return counters_; }

 private:
  struct Impl;
  RestOptions opts_;
  RestPlan plan_;
  std::shared_ptr<transport::HttpClient> client_;
  Stats stats_;
  Completeness completeness_;
  std::vector<std::string> sent_;  // queries(), in the order sent
  Counters counters_;
  std::string watermark_;
};

}  // namespace cf::source
