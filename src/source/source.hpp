#pragma once
// Where resources come from. A source streams pages of extracted resources to a sink, so that the REST, Bulk
// and file sources all feed the same pipeline and no source ever holds the whole input.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/data_issue.hpp"
#include "core/result.hpp"
#include "fhir/model.hpp"

namespace cf::transport {
class SmartAuth;
}

namespace cf::source {

struct Page {
  std::vector<fhir::Resource> resources;
  std::string label;  // file name, URL or query, for progress and issues
};

// Which data could not be read completely. A decision that depends on missing data must become "unknown",
// never "not met" (RELIABILITY D10).
struct Completeness {
  std::set<std::string> run_types;  // types incomplete for every patient ("*" = all)
  std::map<std::string, std::set<std::string>>
      patient_types;  // patient id -> types incomplete for that patient
  // patient id -> types of which a resource names a patient of that id on another server (RELIABILITY H1):
  // never taken for theirs, but it may be, so their decisions on the type are unknown. The data are as the
  // source holds them, not a failed read: the run stays complete (its watermark moves, its results are
  // stored), or one such resource, served again every night, would hold every later night incomplete.
  std::map<std::string, std::set<std::string>> foreign_types;

  bool complete() const { return run_types.empty() && patient_types.empty(); }
  bool incomplete(const std::string& patient, const std::string& type) const;
  void merge(const Completeness& other);
};

// The data issue message, and the patient id it may be ours ("" when none), of a subject that is an absolute
// reference to another server (RELIABILITY H1: never taken for ours, never fetched; their decisions on the
// resource's type are unknown: Completeness::foreign_types).
inline constexpr const char* kForeignSubject = "subject is an absolute reference to another server";
std::string foreign_subject_patient(const std::string& subject);

// RELIABILITY A4: the `types` a SMART grant does not let the client read and search in full are incomplete
// for the whole run, whatever the server answers, each with a scope-not-granted data issue at `where` and a
// line to `log`. Fails when no token can be obtained.
Status mark_types_not_granted(transport::SmartAuth& smart, const std::vector<std::string>& types,
                              Completeness& completeness, IssueLog& issues, const std::string& where,
                              const std::function<void(const std::string&)>& log);

struct Stats {
  std::map<std::string, std::size_t> read_by_type;     // extracted and handed on
  std::map<std::string, std::size_t> skipped_by_type;  // valid resources of types no criterion reads
  std::size_t rejected = 0;  // malformed lines/entries/resources (each a data issue)
  std::map<std::string, std::size_t> prefiltered_by_type;  // lines skipped unparsed: no mapped code or text
  std::size_t files = 0;
};

using Sink = std::function<void(Page&&)>;

class Source {
 public:
  virtual ~Source() = default;
  virtual std::string describe() const = 0;
  // Streams every page to `sink`, in the source's order, one call at a time (not always on the calling
  // thread: the file source calls it from its workers). Data problems go to `issues`; an Error means the
  // source as a whole failed.
  virtual Status read(const Sink& sink, IssueLog& issues) = 0;
  virtual const Stats& stats() const = 0;
  virtual const Completeness& completeness() const = 0;

  // Keep each resource's JSON in Header::raw, for the state store.
  void set_keep_raw(bool keep) { keep_raw_ = keep; }
  // Incremental pulls: a source that can, reads only what changed after `since` for the patients it already
  // delivered (the rest comes from the state store).
  virtual bool supports_incremental() const { return false; }
  virtual void pull_changes_since(const std::string& /*since*/, std::set<std::string> /*known_patients*/) {}
  // A source that delivered only what changed since an earlier pull.
  virtual bool delivered_changes_only() const { return false; }
  // The server's clock when the pull began (ISO instant, UTC), to pull from next time; empty when unknown.
  virtual std::string watermark() const { return {}; }
  // About how many bytes read() will go through, when known before reading (0: unknown).
  virtual std::uint64_t size_hint() const { return 0; }
  // The searches and export requests read() sent, for the audit log (RELIABILITY H6): method, path after
  // the server's base and parameters ("GET Patient?_count=1000", "POST Observation/_search patient=..."),
  // each once however many pages followed, in the order sent. Empty for files.
  virtual std::vector<std::string> queries() const { return {}; }

 protected:
  bool keep_raw_ = false;
};

}  // namespace cf::source
