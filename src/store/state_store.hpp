#pragma once
// The nightly state: one SQLite database in a private folder (--state DIR, mode 0700; files 0600). It keeps
// every run and its per-patient results (to say what changed since last night and to explain a past
// decision), the coordinators' screening feedback, and an append-only audit log without clinical values.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace cf::store {

class Db;

struct RunRecord {
  std::int64_t id = 0;
  std::string started, finished, as_of, source, trial_id, trial_version, trial_sha256, status, out_dir, user;
  std::string mappings_sha256;  // over the mapping files' SHA-256s, in order ("" before schema 7)
  bool complete = false;
  std::int64_t patients = 0, eligible = 0, possible = 0, ineligible = 0, data_issues = 0;
  std::string failure;    // why the run ended without a result (fail_run), or ""
  bool disclosed = true;  // its outputs name the candidates (not a counts-only export): disclosure entries
};

struct PatientResult {
  std::string patient, tier;
  std::int64_t rank = 0;
  double score = 0;
  // (criterion id, met / not_met / unknown / manual), in the trial definition's order (runs stored before
  // that order was kept have theirs in id order).
  std::vector<std::pair<std::string, std::string>> outcomes;
  std::string line;  // the results.ndjson line, for explaining a past decision

  // nullptr when not stored. `at`: where it is expected (its index in the trial), looked at first.
  const std::string* outcome(std::string_view criterion, std::size_t at = 0) const;
};

struct StoredResource {
  std::string type, id, version_id, last_updated, patient, location, json;
};

// What a run pulled, saved with its results in one transaction.
struct ResourceUpdate {
  std::string source;
  std::vector<StoredResource> pulled;
  bool full = false;      // a complete full pull: what the source no longer has is deleted
  std::string watermark;  // server time the pull began; saved only when the pull was complete
};

// A Bulk Data export job in progress (schema v3).
struct BulkJob {
  std::string source;      // the source's describe()
  std::string status_url;  // the kick-off's Content-Location
  std::string kicked_off;  // ISO instant (UTC)
};

struct Feedback {
  std::string patient, status, note, recorded_at, recorded_by;
};

// The statement StateStore::prune_lines() empties old lines with (tests check that it uses its index).
extern const char* const kPruneLinesSql;

// One row of the audit log.
struct AuditEntry {
  std::string who, action, detail;
};

// The newest entry of the audit log (entry 0 and no hash: the log is empty). Kept apart from the state folder
// (each run's manifest.json, the run's log), it shows whether the newest entries were removed since.
struct AuditHead {
  std::int64_t entry = 0;
  std::string hash;
};

// What StateStore::verify_audit() found.
struct AuditCheck {
  std::size_t entries = 0;
  std::size_t unchained = 0;   // entries from before schema 6, ahead of the chain
  std::int64_t broken_at = 0;  // id of the first entry whose hash does not verify, or 0
  std::string why;             // what is wrong there
};

class StateStore {
 public:
  // Creates the folder (0700) and the database (0600) if needed, and migrates the schema.
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& dir);
  ~StateStore();

  // Records a run as started (committed at once, so a killed run is visible as 'abandoned' later).
  Result<std::int64_t> begin_run(const RunRecord& r);
  // In one transaction: every patient's result, the run's summary, status 'complete' (or 'incomplete' when
  // some input could not be read) and the run's audit entries: one per query the source sent (`queries`,
  // as sent), one disclosure per candidate, then `audit`. Before this commits, the run does not count as a
  // night's result. `row(i)` for i < count produces each patient's result (one at a time: lines are not
  // all held in memory).
  Status finish_run(const RunRecord& r, std::size_t count,
                    const std::function<PatientResult(std::size_t)>& row, const AuditEntry& audit,
                    const ResourceUpdate* resources = nullptr, const std::vector<std::string>& queries = {});
  Result<std::vector<StoredResource>> resources(const std::string& source);
  Result<std::string> watermark(const std::string& source);  // "" before the first complete pull
  // The watermark (server time) of the last complete full pull of the source; "" if none.
  Result<std::string> last_full_pull(const std::string& source);
  // Runs marked running by a process that no longer holds the lock become 'abandoned'.
  Status abandon_stale_runs();
  // A run that stopped with an error: 'abandoned' with the reason, so history says why (best effort: on a
  // full disk this may fail too, and the next run marks it abandoned without one).
  Status fail_run(std::int64_t id, const std::string& why);

  // The last run that finished (complete or incomplete), other than `except`.
  Result<std::optional<RunRecord>> last_finished_run(std::int64_t except = 0);
  // The last run whose read was complete, other than `except`.
  Result<std::optional<RunRecord>> last_complete_run(std::int64_t except = 0);
  // Tiers, ranks and outcomes of a run (without the stored lines).
  Result<std::map<std::string, PatientResult>> results(std::int64_t run_id);
  // `line` is empty when the run's lines were pruned (prune_lines); the decisions stay.
  Result<std::optional<PatientResult>> result(std::int64_t run_id, const std::string& patient);
  // Retention: empties the results lines (reasons, evidence) of every run but the `keep` latest that have
  // results; their tiers, ranks, scores and criterion outcomes stay, so changes and history are unaffected.
  // SQLite reuses the pages freed, so the file stops growing by a night's lines. Returns the oldest run whose
  // lines are kept (0 when no run has results). Lines emptied are audited ('prune', by `who`) in the same
  // transaction.
  Result<std::int64_t> prune_lines(std::int64_t keep, const std::string& who);
  Result<std::vector<RunRecord>> history();

  // With its audit entry ('feedback', by f.recorded_by), in one transaction.
  Status add_feedback(const Feedback& f);
  // The latest feedback per patient.
  Result<std::map<std::string, Feedback>> feedback();

  // Append-only: who did what, when; never clinical values. The store's own changes write their entry in the
  // transaction that makes the change, so that a change and its entry commit together or not at all.
  // Appends an entry to the hash chain (within the caller's transaction when there is one).
  Status audit(const AuditEntry& e);
  // Recomputes the chain from its first entry: an entry edited, removed or inserted without its hash breaks
  // it. Removing the newest entries does not: that shows only against a head kept elsewhere (audit_head()).
  Result<AuditCheck> verify_audit();
  Result<AuditHead> audit_head();
  // The hash of entry `entry`; nullopt when there is no such entry (or it predates the chain: "").
  Result<std::optional<std::string>> audit_hash_at(std::int64_t entry);
  Result<std::vector<std::vector<std::string>>> audit_log();

  Result<std::string> integrity_check();

  // Bulk Data export bookkeeping (source/bulk_source.hpp). Each call commits at once, so the status URL is
  // durable before the first poll.
  Status save_bulk_job(const BulkJob& job);  // replaces the source's previous job
  Result<std::optional<BulkJob>> bulk_job(const std::string& source);
  Status clear_bulk_job(const std::string& source);
  // Removes resources ("Type/id") that the server reported deleted (a Bulk export's `deleted` entries), in
  // one transaction. Idempotent: applying it again, or before the run's results commit, is harmless.
  Status delete_resources(const std::string& source, const std::vector<std::string>& keys);

 private:
  explicit StateStore(std::unique_ptr<Db> db);
  std::unique_ptr<Db> db_;
};

// One run at a time per state folder: an exclusive flock on DIR/run.lock, released when the process ends
// (kill -9 included).
class RunLock {
 public:
  // The error message when another process holds the lock; any other failure (a folder that is a link, or
  // writable by all) is a problem with the folder itself.
  static constexpr std::string_view kHeld = "another cohort-finder run is using this state folder";
  static Result<std::unique_ptr<RunLock>> acquire(const std::filesystem::path& dir);
  ~RunLock();

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

std::string now_utc();
std::string current_user();

}  // namespace cf::store
