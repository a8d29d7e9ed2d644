#pragma once
// Writers for the run's outputs. Formatting only: every decision was made upstream.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data_issue.hpp"
#include "core/files.hpp"
#include "core/result.hpp"
#include "criteria/trial.hpp"
#include "ranking/ranking.hpp"
#include "terminology/patient_record.hpp"

namespace cf::json {
class Writer;
}

namespace cf::report {

struct RunInfo {
  long long run_id = 0;  // the state store's run number; 0 without a state folder
  std::string tool_version;
  std::string as_of;
  std::string source;
  std::string started, finished;  // wall-clock times of the run (metadata only)
  std::vector<std::pair<std::string, std::string>> mapping_files;  // file, sha256
  std::map<std::string, std::size_t> read_by_type, skipped_by_type, prefiltered_by_type;
  std::size_t rejected = 0, files = 0, kept = 0, unmatched = 0, duplicates = 0, unattributed = 0;
  bool complete = true;
  std::vector<std::string> incomplete;  // "Observation (all patients)", "Condition (patient 12)"
  std::map<std::string, std::size_t> issues_by_kind;
  // Drugs no code or name of the mappings identifies, most used first (what to add to the mappings).
  std::vector<terminology::UnidentifiedDrug> unidentified_drugs;
  std::string export_mode = "identified";
  std::string ineligible_detail = "deciding";  // to_string(IneligibleDetail)
  std::string shard = "1/1";
  // The state store's audit log after the run recorded itself (entry 0: no state folder): a copy of its head
  // outside the store, which shows later whether the newest entries were removed (`cohort-finder audit`).
  long long audit_entry = 0;
  std::string audit_hash;
};

// One quoted CSV field; text that a spreadsheet would run as a formula (= + - @) is prefixed with '.
std::string csv_field(std::string_view s);

std::string candidates_csv(const std::vector<ranking::PatientOutcome>& outcomes);
std::string results_ndjson(const criteria::Trial& trial,
                           const std::vector<ranking::PatientOutcome>& outcomes);
// A score as every output writes it (CSV, results lines, report, Group): two decimals.
std::string format_score(double score);

// How much of an ineligible patient's results line is written. `deciding` (the default): the criteria that
// made the patient ineligible in full (label, reason, evidence), every other criterion as its id and outcome
// only. Most of a hospital is ineligible, and their full lines made results.ndjson (and each run's rows in
// the state store) about 6 KB per patient, three quarters of it about criteria that decided nothing. `full`:
// every criterion as a candidate's.
enum class IneligibleDetail { deciding, full };
std::optional<IneligibleDetail> parse_ineligible_detail(std::string_view s);
const char* to_string(IneligibleDetail d);

// One line of results.ndjson, no trailing newline. Besides the decisions and their evidence, a candidate's
// line carries what report.html and group.json show of it (gender, birth date, key values, trend series, the
// score bounds' evidence) and any patient's line its name (identified exports only), so that `merge` can
// write both from the lines; a pseudonymised line carries none of these. read_result_line()
// (report/result_reader.hpp) is the inverse.
std::string result_line(const criteria::Trial& trial, const ranking::PatientOutcome& o,
                        IneligibleDetail detail = IneligibleDetail::deciding);

// result_line() for every patient of a run: what is the same on every line (each criterion's id, kind and
// label) is serialised once. `trial` must outlive it; line() may be called from several threads at once.
class ResultLines {
 public:
  explicit ResultLines(const criteria::Trial& trial, IneligibleDetail detail = IneligibleDetail::deciding);
  std::string line(const ranking::PatientOutcome& o) const;

 private:
  const criteria::Trial& trial_;
  IneligibleDetail detail_;
  std::vector<std::string>
      heads_;  // per criterion: {"id":..,"kind":..,"label":..[,"analogue":true],"outcome":
  std::vector<std::string> brief_heads_;  // per criterion: {"id":..,"outcome":
};

// What changed since the previous night (one row per change).
struct Change {
  std::string kind;  // new, dropped, unread (a candidate not read on an incomplete night), tier, rank
  std::string patient, old_tier, new_tier;
  int old_rank = 0, new_rank = 0;
  std::string criteria_changed;  // "E-SLN: not_met -> met | I2: met -> not_met"
  std::string screening_status;
};
std::string changes_csv(const std::vector<Change>& changes);
struct CellPolicy;  // report/counts.hpp
// With `cells` (a counts-only export), every count of patients is published through the small-cell rule.
std::string attrition_csv(const criteria::Trial& trial, const std::vector<ranking::PatientOutcome>& outcomes,
                          const CellPolicy* cells = nullptr);
// data_issues.ndjson: one issue per line, sorted by location (digits compared as numbers, so file:9 comes
// before file:10), then kind, resource, path and message: the same file whatever the threads or partitions of
// the run.
std::string issues_ndjson(const std::vector<DataIssue>& issues);
// An output of the run as manifest.json lists it: name and fingerprint (RELIABILITY S5).
struct OutputFile {
  std::string name;
  FileFingerprint fingerprint;
};
// "outputs":[{"file":..,"sha256":..,"bytes":..,"lines":..},...] as the value of the current key.
void write_outputs(json::Writer& w, const std::vector<OutputFile>& outputs);
// With `cells`, the counts of patients (in all, per tier) go through the small-cell rule, which the manifest
// records.
std::string manifest_json(const criteria::Trial& trial, const RunInfo& info,
                          const std::vector<ranking::PatientOutcome>& outcomes,
                          const std::vector<OutputFile>& outputs, const CellPolicy* cells = nullptr);

// Plain-language account of one patient's line of results.ndjson.
Result<std::string> explain(const std::filesystem::path& results_file, const std::string& patient_id);
// The same from one stored line of results.ndjson.
Result<std::string> explain_line(const std::string& line, const std::string& patient_id);

}  // namespace cf::report
