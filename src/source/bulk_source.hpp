#pragma once
// Pulls the cohort's data with a FHIR Bulk Data Access v2 export (`$export`), tolerant of v1 servers
// (RELIABILITY.md B1-B12, D7, D10):
//   1. kick-off: GET [base]/$export, [base]/Patient/$export or [base]/Group/[id]/$export with
//      `Prefer: respond-async`, `_type` = the types the tool reads, `_typeFilter` with the mapped Observation
//      codes (asked again without it when the server answers 400), `_since` on incremental nights; 429/503
//      are waited out, anything else but 202 + Content-Location fails the read. The status URL is handed to
//      on_status_url() before the first poll, so a run that is killed can resume the same job
//      (set_resume_url) instead of starting another;
//   2. polling: the status URL (same origin as the base, or https) is polled honouring Retry-After (seconds
//   or
//      HTTP-date, clamped to [min_poll_interval, max_poll_interval]), else with backoff from poll_interval;
//      X-Progress is logged cleaned (no CR/LF/ANSI, at most 100 characters); 429, 5xx and OperationOutcome
//      code "transient" are waited out within max_error_wait; 404/410 (the job is gone) and other 4xx/5xx
//      fail the read with the OperationOutcome text cleaned; max_export_wait bounds the whole wait;
//   3. the manifest is validated: transactionTime (an instant with a zone, else no watermark), request,
//      requiresAccessToken (a boolean; anything else is treated as true), output[] types/urls/counts, error[]
//      (or STU4 outcome[]), deleted[], and link[next] (v3 partial manifests, loops refused);
//   4. `deleted` files are read first (transaction Bundles of DELETE entries: deleted()), then the output
//   files are
//      streamed `concurrency` at a time (HttpClient::send_streaming: split into lines as the bytes arrive,
//      pages handed to the sink as they fill, so memory per download is one line, one body piece and one
//      page, whatever the file's size) and each line goes through the same parse and extract path as the file
//      source (json::parse, fhir::extract_resource, the optional LineFilter); the error files are read last.
//      A file that breaks off mid-way is downloaded again up to 3 times in all, reading on after what was
//      already used (the rest by Range, or the whole file with its first part checked unchanged); after that
//      its type is incomplete. A file link that redirects is followed up to 5 hops (https once https, the
//      token never to another origin). A file that answers 401/403/404/410 once the manifest is older than
//      manifest_reread_after is tried once more from the link of the manifest read again from the status URL
//      (expired signed links);
//   5. Medications that MedicationRequest/Statement/Administration resources reference but the export did not
//      contain (Patient and Group exports hold only the Patient compartment) are read with
//      Medication?_id=...;
//   6. the job is deleted on the server (404 is fine) and on_status_url("") says so.
// A type is incomplete for the run (its decisions "unknown", never "not met", D10) when one of its files is
// refused (another origin without https; a loopback or link-local host of another origin unless trusted;
// another origin while requiresAccessToken is true unless trusted), cannot be downloaded (404, truncated
// body, ...), has a line that is not valid JSON or names another resourceType, or holds fewer or more lines
// than the manifest's count, and when an error file reports a fatal or error issue for it. An error issue
// that names no type, an unreadable error file or an unreadable deleted file makes every type incomplete. The
// Authorization header goes only to the base URL's origin, and to file URLs only when requiresAccessToken is
// true.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "source/line_filter.hpp"
#include "source/source.hpp"
#include "transport/http_client.hpp"
#include "transport/smart_auth.hpp"

namespace cf::source {

enum class BulkLevel { system, patient, group };

// "system", "patient" or "group:ID" (ID a FHIR id) -> level and group id.
Result<std::pair<BulkLevel, std::string>> parse_bulk_level(std::string_view text);

// The resource types the tool reads, as `_type`.
std::vector<std::string> default_bulk_types();

struct BulkOptions {
  std::string base_url;
  BulkLevel level = BulkLevel::system;
  std::string group_id;  // level group
  std::vector<std::string> types = default_bulk_types();
  // _typeFilter for Observation: "system|code" tokens (Observation?code=...) and text patterns
  // (Observation?code:text=...), OR-ed as the IG specifies. Empty codes: no _typeFilter.
  std::vector<std::string> observation_codes;
  std::vector<std::string> observation_texts;
  bool type_filter = true;  // false: never send _typeFilter
  int concurrency = 4;      // output files downloaded at once
  std::size_t page_size = 1000;
  // Polling: Retry-After is clamped to [min, max]; without one the wait starts at poll_interval and
  // grows 1.5x up to max_poll_interval.
  std::chrono::milliseconds poll_interval{5000};
  std::chrono::milliseconds min_poll_interval{1000};
  std::chrono::milliseconds max_poll_interval{300000};
  std::chrono::milliseconds max_export_wait{std::chrono::hours(6)};    // kick-off to manifest (B4)
  std::chrono::milliseconds max_error_wait{std::chrono::minutes(30)};  // total wait on 429/5xx answers
  // A file that answers 401/403/404/410 when the manifest was read at least this long ago: its links may have
  // expired (signed URLs), so the manifest is read once more from the status URL (once per run, and used only
  // when its transactionTime is the same) and the file is tried again from its new link.
  std::chrono::milliseconds manifest_reread_after{std::chrono::minutes(5)};
  std::string authorization;                    // full Authorization value, or empty (never logged)
  std::shared_ptr<transport::SmartAuth> smart;  // SMART Backend Services: supplies Authorization when set
  // Origins ("https://files.example.org:8443") other than the base's that may serve export files even though
  // they are loopback/link-local, or while requiresAccessToken is true. They never receive the Authorization
  // header.
  std::vector<std::string> trusted_file_origins;
  // Skips NDJSON lines that cannot matter before parsing them (line_filter.hpp); null: every line is parsed.
  std::shared_ptr<const LineFilter> line_filter;
  bool fetch_referenced_medications = true;
  // The kick-off is not idempotent (it creates a job): pass a client whose retry policy allows at most one
  // repeat (max_attempts 2, RELIABILITY B2). Null: the main client.
  std::shared_ptr<transport::HttpClient> kickoff_client;
  // File downloads: a client with a longer total timeout suits big exports. Files are streamed (read line by
  // line as they arrive, never held whole), but its max_body_bytes / max_decoded_bytes still cap the size of
  // one file and its total_timeout the time of one download. Null: the main client.
  std::shared_ptr<transport::HttpClient> file_client;
  std::function<void(const std::string&)> log;  // progress and warnings, one line each, no PHI
  // Test hook: how to wait (default std::this_thread::sleep_for).
  std::function<void(std::chrono::milliseconds)> sleep;
};

class BulkSource : public Source {
 public:
  BulkSource(BulkOptions opts, std::shared_ptr<transport::HttpClient> client);
  std::string describe() const override;  // "bulk:<kick-off URL without query>"
  Status read(const Sink& sink, IssueLog& issues) override;
  const Stats& stats() const override { return stats_; }
  const Completeness& completeness() const override { return completeness_; }
  bool supports_incremental() const override { return true; }
  // `_since` for the next kick-off. For a Group export the known patients matter: a member added since the
  // last night would get only its changed resources from a _since export (the Bulk Data IG lets servers
  // leave out its older data), so when the Group has members not in `known` the night exports in full.
  // (Otherwise the known patients are not needed: an export covers every patient in
  // scope).
  void pull_changes_since(const std::string& since, std::set<std::string> known) override;
  // True when the job that delivered the data was an incremental one (its manifest's request had _since; for
  // a resumed job whose manifest does not say, assumed true so that nothing stored is dropped as "gone").
  bool delivered_changes_only() const override { return changes_only_; }
  // The manifest's transactionTime (the server's clock), normalised to YYYY-MM-DDThh:mm:ssZ in UTC (fractions
  // dropped, so it never moves later); empty when the manifest's value was missing or invalid.
  std::string watermark() const override { return watermark_; }
  std::vector<std::string> queries() const override;

  // Poll this status URL (saved by an earlier run) instead of kicking off. If the server no longer knows it
  // (404/410), a new job is kicked off.
  void set_resume_url(std::string url) { resume_url_ = std::move(url); }
  // Called with the status URL right after the kick-off (before the first poll), and with "" once the job is
  // finished and deleted, or failed. Not called when the export deadline passes with the job still running:
  // it is kept for the next run to resume.
  void on_status_url(std::function<void(const std::string&)> cb) { on_status_url_ = std::move(cb); }
  // "Type/id" of every resource the manifest's `deleted` files list (incremental nights): the state store
  // should drop them. Resources listed here that were also in an output file were not delivered.
  const std::vector<std::string>& deleted() const { return deleted_; }

  struct Counters {
    std::size_t kickoffs = 0, polls = 0, manifests = 0, files = 0, failed_files = 0, lines = 0, deleted = 0,
                medication_searches = 0, manifest_rereads = 0;
    std::size_t ranged_files = 0;  // downloads that broke off and were finished with a Range request
    std::uint64_t bytes = 0;
    std::chrono::milliseconds waited{0};  // time spent waiting between status requests
    bool resumed = false, job_deleted = false;
  };
  Counters counters() const { return counters_; }

 private:
  struct Impl;
  BulkOptions opts_;
  std::shared_ptr<transport::HttpClient> client_;
  Stats stats_;
  Completeness completeness_;
  std::vector<std::string> sent_;  // queries(), in the order sent
  Counters counters_;
  std::string since_;
  std::set<std::string> known_;  // patients the state store holds (for a Group export's new members)
  std::string resume_url_;
  std::function<void(const std::string&)> on_status_url_;
  std::vector<std::string> deleted_;
  std::string watermark_;
  bool changes_only_ = false;
};

}  // namespace cf::source
