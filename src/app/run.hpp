#pragma once
// One search: read a source, map, evaluate every patient, rank, and write the outputs.
#include <filesystem>
#include <memory>
#include <string>

#include "core/date.hpp"
#include "core/result.hpp"
#include "core/shard.hpp"
#include "report/counts.hpp"
#include "report/outputs.hpp"
#include "report/privacy.hpp"
#include "source/line_filter.hpp"
#include "source/rest_source.hpp"
#include "source/source.hpp"

namespace cf::app {

struct RunOptions {
  std::filesystem::path trial;     // trial definition JSON
  std::filesystem::path mappings;  // mappings/ folder
  std::filesystem::path out;       // output folder (created)
  Days as_of = 0;
  std::string tool_version;
  // With a state folder the run is recorded, compared with the last one (changes.csv) and annotated with the
  // coordinators' screening feedback. The caller holds the folder's RunLock.
  std::filesystem::path state;
  bool full = false;  // with a state folder: pull everything and remove what the source no longer has
  // With a state folder: keep the results lines (reasons, evidence) of this many latest runs; older runs keep
  // their decisions only (StateStore::prune_lines). 0 keeps every line.
  int keep_lines = 0;
  int since_margin_seconds = 300;
  // With a state folder: a pull that could be incremental is a full one when the last full pull is this many
  // days old (server time): searches for changes never return deletions, and only a full pull drops what is
  // gone.
  int full_every_days = 7;  // incremental pulls start this long before the last watermark
  // What the outputs may contain (the state store always keeps the identified results).
  report::ExportMode export_mode = report::ExportMode::identified;
  std::filesystem::path pseudonym_key;  // required for deidentified and safe-harbor
  report::CellPolicy cells;             // counts: the small-cell rule
  // How much of an ineligible patient's results line is written (report::IneligibleDetail).
  report::IneligibleDetail ineligible_detail = report::IneligibleDetail::deciding;
  Shard shard;  // this process's share of the patients (run --shard K/N; `merge` combines the shards)
  // Kept resources beyond this many bytes go to scratch files in the output folder, and patients are then
  // evaluated one partition at a time (terminology::Collector); 0 spills from the first resource.
  std::size_t memory_budget_bytes = std::size_t{32} << 20;
  std::size_t threads = 0;  // evaluation threads; 0 = one per core
};

struct RunSummary {
  std::size_t patients = 0, eligible = 0, possible = 0, ineligible = 0;
  std::size_t data_issues = 0;
  bool complete = true;
  std::filesystem::path candidates_csv;
  std::string changes;  // one-line summary of what changed since the previous run ("" without a state folder)
  std::string full_because;       // why the pull was a full one where it could have been incremental, or ""
  std::string prefilter_warning;  // versions-and-prefilter (also a data issue), for the terminal too, or ""
  bool out_made_private = false;  // the output folder was readable by others and is now 0700
  std::size_t not_stored =
      0;  // resources of patients first read on an incomplete night: read again next night
  std::int64_t run_id = 0;
  std::int64_t lines_kept_from = 0;  // keep_lines: the oldest run whose results lines are kept
  std::string prune_error;           // keep_lines: why the old lines could not be pruned (the run stands)
  std::int64_t audit_entry = 0;      // the audit log's newest entry after the run (0 without a state folder)
  std::string audit_hash;            // its hash, also in manifest.json
  std::string anchor_error;          // why manifest.json could not be given the audit head (the run stands)
  std::size_t partitions = 1;  // evaluated one after another (more than 1: the memory budget was reached)
  std::uint64_t spilled_bytes = 0;                                    // written to scratch files
  double read_seconds = 0, evaluate_seconds = 0, output_seconds = 0;  // wall time of each stage
};

// The trial definition and mappings, loaded and validated.
struct Prepared;
Result<std::shared_ptr<const Prepared>> prepare(const RunOptions& opts);

// The codes these mappings mark "verified": false, as their rules (for `run --check`).
const std::vector<std::string>& unverified_codes(const Prepared& prepared);

// The raw-line prefilter that matches these mappings (source/line_filter.hpp).
std::shared_ptr<const source::LineFilter> line_filter_for(const Prepared& prepared);

// The REST query plan for these mappings: anchor diagnosis and serology codes as seeds, every mapped
// observation code for the expansion.
source::RestPlan rest_plan_for(const Prepared& prepared, bool population);

// Errors are failures of the source or the output folder; data problems are recorded in data_issues.ndjson
// and the run goes on.
Result<RunSummary> run(const RunOptions& opts, const Prepared& prepared, source::Source& src);

std::string version();

}  // namespace cf::app
