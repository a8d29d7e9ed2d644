// The schema, in one place: each migration moves the database one version forward, inside a transaction.
#include "store/schema.hpp"

#include <string>
#include <vector>

namespace cf::store {

namespace {

const std::vector<std::string> kMigrations = {
    // 1: runs, per-patient results, screening feedback, append-only audit log.
    R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, as_of TEXT NOT NULL, source TEXT NOT NULL,
  trial_id TEXT NOT NULL, trial_version TEXT NOT NULL, trial_sha256 TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'incomplete', 'abandoned')),
  patients INTEGER, eligible INTEGER, possible INTEGER, ineligible INTEGER, data_issues INTEGER,
  out_dir TEXT, user TEXT);
CREATE TABLE results (
  run_id INTEGER NOT NULL REFERENCES runs(id), patient TEXT NOT NULL, tier TEXT NOT NULL, rank INTEGER NOT NULL,
  score REAL NOT NULL, outcomes TEXT NOT NULL, line TEXT NOT NULL, PRIMARY KEY (run_id, patient));
CREATE TABLE feedback (
  id INTEGER PRIMARY KEY, patient TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('screened', 'enrolled', 'declined', 'not-eligible')),
  note TEXT NOT NULL DEFAULT '', recorded_at TEXT NOT NULL, recorded_by TEXT NOT NULL);
CREATE INDEX feedback_patient ON feedback(patient, id);
CREATE TABLE audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL, who TEXT NOT NULL, action TEXT NOT NULL,
                    detail TEXT NOT NULL);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit BEGIN
  SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql",
    // 2: the resources pulled from each source (the JSON of every resource, so a past decision can be shown
    // and an incremental pull completed), and each source's watermark (the server's clock at its last
    // complete pull).
    R"sql(
CREATE TABLE resources (
  source TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, version_id TEXT NOT NULL, last_updated TEXT NOT NULL,
  patient TEXT NOT NULL, location TEXT NOT NULL, sha256 TEXT NOT NULL, json TEXT NOT NULL,
  PRIMARY KEY (source, type, id));
CREATE TABLE sources (source TEXT PRIMARY KEY, watermark TEXT NOT NULL, last_full_pull TEXT NOT NULL);
)sql",
    // 3: the Bulk Data export job a source is waiting for (its status URL), saved right after the kick-off
    // and before the first poll, so a run that was killed resumes the same job instead of starting another
    // (RELIABILITY B1); removed once the job's files are read and the job is deleted on the server.
    R"sql(
CREATE TABLE bulk_jobs (source TEXT PRIMARY KEY, status_url TEXT NOT NULL, kicked_off TEXT NOT NULL);
)sql",
    // 4: the results rows that still have their line, so that pruning (StateStore::prune_lines, every night
    // with --keep-lines) visits those instead of every night's rows ever stored. 60 nights of 100,000
    // patients: a night with nothing to prune 0.99 s -> 0.0 s, pruning one night 3.2 s -> 1.3 s.
    R"sql(
CREATE INDEX results_with_line ON results(run_id) WHERE line <> '';
)sql",
    // 5: why a run ended without a result (RELIABILITY S6: a full disk, a source that failed), recorded as it
    // fails; its status is 'abandoned', as for a run that was killed, but history shows it as failed with the
    // reason.
    R"sql(
ALTER TABLE runs ADD COLUMN failure TEXT;
)sql",
    // 6: the audit log as a hash chain (RELIABILITY H6): each entry's hash covers the previous entry's hash
    // and its own fields, so an entry changed or removed in the middle shows. Entries written before carry
    // none.
    R"sql(
ALTER TABLE audit ADD COLUMN hash TEXT;
)sql",
    // 7: the mapping files a run used (one SHA-256 over theirs), beside the trial definition's: when either
    // differs from the last run's, codes that mattered nothing before may matter now, and what the state
    // store kept from incremental pulls no longer covers them, so the next pull is a full one.
    R"sql(
ALTER TABLE runs ADD COLUMN mappings_sha256 TEXT;
)sql",
};

}  // namespace

int schema_version() {
  return static_cast<int>(kMigrations.size());
}

Status migrate(Db& db) {
  auto st = db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  if (!st) return st;
  int current = 0;
  {
    Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (q.step()) current = static_cast<int>(q.integer(0));
    if (!q.status()) return q.status();
  }
  if (current > schema_version())
    return make_error("the state database has schema version " + std::to_string(current) +
                          ", newer than this tool's " + std::to_string(schema_version()) +
                          ": upgrade cohort-finder",
                      db.path());
  for (int v = current; v < schema_version(); ++v) {
    Transaction tx(db);
    if (!tx.begun()) return tx.begun();
    // Another process (a coordinator's `history` while the night runs) may have applied this step between the
    // read above and this transaction: asked again under the write lock.
    {
      Statement q(db, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
      int now = 0;
      if (q.step()) now = static_cast<int>(q.integer(0));
      if (!q.status()) return q.status();
      if (now > v) {
        v = now - 1;  // the loop's ++v continues after what is there
        continue;
      }
    }
    auto m = db.exec(kMigrations[static_cast<std::size_t>(v)]);
    if (!m) return m;
    Statement ins(db, "INSERT INTO schema_version(version) VALUES (?)");
    auto r = ins.bind(1, static_cast<std::int64_t>(v + 1)).run();
    if (!r) return r;
    auto c = tx.commit();
    if (!c) return c;
  }
  return Status::success();
}

}  // namespace cf::store
