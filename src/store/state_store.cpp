#include "store/state_store.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "core/files.hpp"
#include "core/sha256.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace cf::store {

namespace fs = std::filesystem;

std::string now_utc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string current_user() {
  if (const passwd* pw = ::getpwuid(::geteuid())) return pw->pw_name;
  return "uid " + std::to_string(::geteuid());
}

namespace {

std::string encode_outcomes(const std::vector<std::pair<std::string, std::string>>& m) {
  std::string s;
  for (const auto& [k, v] : m) s += k + "=" + v + ";";
  return s;
}

std::vector<std::pair<std::string, std::string>> decode_outcomes(const std::string& s) {
  std::vector<std::pair<std::string, std::string>> m;
  std::size_t start = 0;
  while (start < s.size()) {
    auto semi = s.find(';', start);
    if (semi == std::string::npos) semi = s.size();
    auto eq = s.find('=', start);
    if (eq != std::string::npos && eq < semi)
      m.emplace_back(s.substr(start, eq - start), s.substr(eq + 1, semi - eq - 1));
    start = semi + 1;
  }
  return m;
}

}  // namespace

const std::string* PatientResult::outcome(std::string_view criterion, std::size_t at) const {
  if (at < outcomes.size() && outcomes[at].first == criterion) return &outcomes[at].second;
  for (const auto& [id, value] : outcomes)
    if (id == criterion) return &value;
  return nullptr;
}

namespace {

RunRecord read_run(const Statement& q) {
  RunRecord r;
  r.id = q.integer(0);
  r.started = q.text(1);
  r.finished = q.text(2);
  r.as_of = q.text(3);
  r.source = q.text(4);
  r.trial_id = q.text(5);
  r.trial_version = q.text(6);
  r.trial_sha256 = q.text(7);
  r.status = q.text(8);
  r.complete = r.status == "complete";
  r.patients = q.integer(9);
  r.eligible = q.integer(10);
  r.possible = q.integer(11);
  r.ineligible = q.integer(12);
  r.data_issues = q.integer(13);
  r.out_dir = q.text(14);
  r.user = q.text(15);
  r.failure = q.text(16);
  r.mappings_sha256 = q.text(17);
  return r;
}

// Columns patient, tier, rank, score, outcomes of a results row.
PatientResult read_result(const Statement& q) {
  PatientResult p;
  p.patient = q.text(0);
  p.tier = q.text(1);
  p.rank = q.integer(2);
  p.score = q.real(3);
  p.outcomes = decode_outcomes(q.text(4));
  return p;
}

constexpr const char* kRunColumns =
    "id, started, finished, as_of, source, trial_id, trial_version, trial_sha256, status, patients, "
    "eligible, "
    "possible, ineligible, data_issues, out_dir, user, failure, COALESCE(mappings_sha256, '')";

}  // namespace

StateStore::StateStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}
StateStore::~StateStore() = default;

Result<std::unique_ptr<StateStore>> StateStore::open(const fs::path& dir) {
  if (auto d = make_private_dir(dir, "state folder"); !d) return d.error();
  auto db = Db::open((dir / "state.db").string());
  if (!db) return db.error();
  auto st = migrate(**db);
  if (!st) return st.error();
  return std::unique_ptr<StateStore>(new StateStore(std::move(*db)));
}

Result<std::int64_t> StateStore::begin_run(const RunRecord& r) {
  Statement q(*db_,
              "INSERT INTO runs(started, as_of, source, trial_id, trial_version, trial_sha256, status, "
              "out_dir, user, mappings_sha256) "
              "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)");
  q.bind(1, r.started).bind(2, r.as_of).bind(3, r.source).bind(4, r.trial_id).bind(5, r.trial_version);
  q.bind(6, r.trial_sha256).bind(7, r.out_dir).bind(8, r.user).bind(9, r.mappings_sha256);
  auto st = q.run();
  if (!st) return st.error();
  Statement id(*db_, "SELECT last_insert_rowid()");
  if (!id.step()) return id.status().error();
  return id.integer(0);
}

Status StateStore::finish_run(const RunRecord& r, std::size_t count,
                              const std::function<PatientResult(std::size_t)>& row,
                              const AuditEntry& audit_entry, const ResourceUpdate* update,
                              const std::vector<std::string>& queries) {
  Transaction tx(*db_);
  if (!tx.begun()) return tx.begun();
  // RELIABILITY H6 (IHE BALP): what was asked of the server, as sent; never what it answered.
  for (const auto& q : queries)
    if (auto a = audit({audit_entry.who, "query", "run " + std::to_string(r.id) + ": " + q}); !a) return a;
  if (update) {
    if (update->full) {
      // Resources the source no longer has are deleted: mark every stored one, then unmark what was pulled.
      Statement del(*db_,
                    "DELETE FROM resources WHERE source=? AND (type || '/' || id) NOT IN "
                    "(SELECT value FROM json_each(?))");
      std::string keys = "[";
      for (std::size_t i = 0; i < update->pulled.size(); ++i) {
        const auto& p = update->pulled[i];
        keys += (i ? ",\"" : "\"") + p.type + "/" + p.id + "\"";
      }
      keys += "]";
      auto st = del.bind(1, update->source).bind(2, keys).run();
      if (!st) return st;
    }
    for (const auto& p : update->pulled) {
      Statement up(
          *db_,
          "INSERT INTO resources(source, type, id, version_id, last_updated, patient, location, sha256, "
          "json) "
          "VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(source, type, id) DO UPDATE SET "
          "version_id=excluded.version_id, "
          "last_updated=excluded.last_updated, patient=excluded.patient, location=excluded.location, "
          "sha256=excluded.sha256, json=excluded.json");
      up.bind(1, update->source).bind(2, p.type).bind(3, p.id).bind(4, p.version_id).bind(5, p.last_updated);
      up.bind(6, p.patient).bind(7, p.location).bind(8, sha256_hex(p.json)).bind(9, p.json);
      auto st = up.run();
      if (!st) return st;
    }
    if (!update->watermark.empty()) {
      Statement wm(
          *db_,
          "INSERT INTO sources(source, watermark, last_full_pull) VALUES (?, ?, ?) ON CONFLICT(source) DO "
          "UPDATE SET watermark=excluded.watermark, last_full_pull=CASE WHEN ? THEN excluded.last_full_pull "
          "ELSE sources.last_full_pull END");
      wm.bind(1, update->source)
          .bind(2, update->watermark)
          .bind(3, update->full ? update->watermark : std::string(""));
      wm.bind(4, static_cast<std::int64_t>(update->full ? 1 : 0));
      auto st = wm.run();
      if (!st) return st;
    }
  }
  for (std::size_t i = 0; i < count; ++i) {
    const PatientResult p = row(i);
    Statement one(
        *db_,
        "INSERT INTO results(run_id, patient, tier, rank, score, outcomes, line) VALUES (?,?,?,?,?,?,?)");
    one.bind(1, r.id).bind(2, p.patient).bind(3, p.tier).bind(4, p.rank).bind(5, p.score);
    one.bind(6, encode_outcomes(p.outcomes)).bind(7, p.line);
    auto st = one.run();
    if (!st) return st;
    // RELIABILITY H6: one disclosure entry per candidate the outputs name (the list coordinators work from).
    if (r.disclosed && (p.tier == "eligible" || p.tier == "possible"))
      if (auto a = audit({audit_entry.who, "disclose",
                          "patient " + p.patient + ": " + p.tier + ", rank " + std::to_string(p.rank) +
                              ", in the outputs of run " + std::to_string(r.id) + " (" + r.out_dir + ")"});
          !a)
        return a;
  }
  Statement up(
      *db_,
      "UPDATE runs SET finished=?, status=?, patients=?, eligible=?, possible=?, ineligible=?, data_issues=? "
      "WHERE id=?");
  up.bind(1, r.finished).bind(2, r.complete ? std::string("complete") : std::string("incomplete"));
  up.bind(3, r.patients).bind(4, r.eligible).bind(5, r.possible).bind(6, r.ineligible).bind(7, r.data_issues);
  up.bind(8, r.id);
  auto st = up.run();
  if (!st) return st;
  if (auto a = audit(audit_entry); !a) return a;
  return tx.commit();
}

Result<std::vector<StoredResource>> StateStore::resources(const std::string& source) {
  Statement q(
      *db_,
      "SELECT type, id, version_id, last_updated, patient, location, json FROM resources WHERE source=? "
      "ORDER BY type, id");
  q.bind(1, source);
  std::vector<StoredResource> out;
  while (q.step())
    out.push_back({q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.text(5), q.text(6)});
  if (!q.status()) return q.status().error();
  return out;
}

namespace {
// One text column of a source's row ("" when the source has none yet).
Result<std::string> source_text(Db& db, const char* sql, const std::string& source) {
  Statement q(db, sql);
  q.bind(1, source);
  std::string out;
  if (q.step()) out = q.text(0);
  if (!q.status()) return q.status().error();
  return out;
}
}  // namespace

Result<std::string> StateStore::watermark(const std::string& source) {
  return source_text(*db_, "SELECT watermark FROM sources WHERE source=?", source);
}

Result<std::string> StateStore::last_full_pull(const std::string& source) {
  return source_text(*db_, "SELECT last_full_pull FROM sources WHERE source=?", source);
}

Status StateStore::abandon_stale_runs() {
  Statement q(*db_, "UPDATE runs SET status='abandoned' WHERE status='running'");
  return q.run();
}

Status StateStore::fail_run(std::int64_t id, const std::string& why) {
  Statement q(*db_,
              "UPDATE runs SET status='abandoned', finished=?, failure=? WHERE id=? AND status='running'");
  q.bind(1, now_utc());
  q.bind(2, why.empty() ? std::string("failed") : why);
  q.bind(3, id);
  return q.run();
}

namespace {
// The newest run whose status is one of `statuses` (an SQL list), other than `except`.
Result<std::optional<RunRecord>> last_run(Db& db, const char* statuses, std::int64_t except) {
  Statement q(db, std::string("SELECT ") + kRunColumns + " FROM runs WHERE status IN " + statuses +
                      " AND id != ? ORDER BY id DESC LIMIT 1");
  q.bind(1, except);
  std::optional<RunRecord> out;
  if (q.step()) out = read_run(q);
  if (!q.status()) return q.status().error();
  return out;
}
}  // namespace

Result<std::optional<RunRecord>> StateStore::last_finished_run(std::int64_t except) {
  return last_run(*db_, "('complete','incomplete')", except);
}

Result<std::optional<RunRecord>> StateStore::last_complete_run(std::int64_t except) {
  return last_run(*db_, "('complete')", except);
}

Result<std::map<std::string, PatientResult>> StateStore::results(std::int64_t run_id) {
  Statement q(*db_, "SELECT patient, tier, rank, score, outcomes FROM results WHERE run_id=?");
  q.bind(1, run_id);
  std::map<std::string, PatientResult> out;
  while (q.step()) {
    PatientResult p = read_result(q);
    out[p.patient] = std::move(p);
  }
  if (!q.status()) return q.status().error();
  return out;
}

Result<std::optional<PatientResult>> StateStore::result(std::int64_t run_id, const std::string& patient) {
  Statement q(*db_,
              "SELECT patient, tier, rank, score, outcomes, line FROM results WHERE run_id=? AND patient=?");
  q.bind(1, run_id).bind(2, patient);
  std::optional<PatientResult> out;
  if (q.step()) {
    out = read_result(q);
    out->line = q.text(5);
  }
  if (!q.status()) return q.status().error();
  return out;
}

const char* const kPruneLinesSql = "UPDATE results SET line='' WHERE run_id < ? AND line <> ''";

Result<std::int64_t> StateStore::prune_lines(std::int64_t keep, const std::string& who) {
  if (keep <= 0) return std::int64_t{0};
  Transaction tx(*db_);
  if (!tx.begun()) return tx.begun().error();
  Statement oldest(
      *db_, "SELECT MIN(run_id) FROM (SELECT DISTINCT run_id FROM results ORDER BY run_id DESC LIMIT ?)");
  oldest.bind(1, keep);
  if (!oldest.step()) {
    if (!oldest.status()) return oldest.status().error();
    return std::int64_t{0};
  }
  const std::int64_t first_kept = oldest.integer(0);
  if (first_kept == 0) return std::int64_t{0};  // no run has results: nothing to prune, nothing to audit
  Statement q(*db_, kPruneLinesSql);
  q.bind(1, first_kept);
  if (auto st = q.run(); !st) return st.error();
  const AuditEntry entry{who, "prune",
                         "results lines of runs before " + std::to_string(first_kept) +
                             " emptied (keep_lines " + std::to_string(keep) + ")"};
  if (auto a = audit(entry); !a) return a.error();
  if (auto c = tx.commit(); !c) return c.error();
  return first_kept;
}

Result<std::vector<RunRecord>> StateStore::history() {
  Statement q(*db_, std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id");
  std::vector<RunRecord> out;
  while (q.step()) out.push_back(read_run(q));
  if (!q.status()) return q.status().error();
  return out;
}

Status StateStore::add_feedback(const Feedback& f) {
  Transaction tx(*db_);
  if (!tx.begun()) return tx.begun();
  Statement q(*db_,
              "INSERT INTO feedback(patient, status, note, recorded_at, recorded_by) VALUES (?,?,?,?,?)");
  q.bind(1, f.patient).bind(2, f.status).bind(3, f.note).bind(4, f.recorded_at).bind(5, f.recorded_by);
  if (auto st = q.run(); !st) return st;
  if (auto a = audit({f.recorded_by, "feedback", "patient " + f.patient + ": " + f.status}); !a) return a;
  return tx.commit();
}

Result<std::map<std::string, Feedback>> StateStore::feedback() {
  Statement q(*db_, "SELECT patient, status, note, recorded_at, recorded_by FROM feedback ORDER BY id");
  std::map<std::string, Feedback> out;
  while (q.step()) out[q.text(0)] = Feedback{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4)};
  if (!q.status()) return q.status().error();
  return out;
}

namespace {

// SHA-256 over the previous entry's hash and this entry's fields, each preceded by its length, so that no two
// different entries hash alike by moving text between fields.
std::string audit_hash(const std::string& previous, const std::string& at, const std::string& who,
                       const std::string& action, const std::string& detail) {
  std::string text;
  for (const std::string* f : {&previous, &at, &who, &action, &detail}) {
    text += std::to_string(f->size());
    text += ':';
    text += *f;
  }
  return sha256_hex(text);
}

}  // namespace

Status StateStore::audit(const AuditEntry& e) {
  Statement last(*db_, "SELECT COALESCE(hash, '') FROM audit ORDER BY id DESC LIMIT 1");
  std::string previous = last.step() ? last.text(0) : std::string();
  if (!last.status()) return last.status();
  const std::string at = now_utc();
  Statement q(*db_, "INSERT INTO audit(at, who, action, detail, hash) VALUES (?,?,?,?,?)");
  q.bind(1, at).bind(2, e.who).bind(3, e.action).bind(4, e.detail);
  q.bind(5, audit_hash(previous, at, e.who, e.action, e.detail));
  return q.run();
}

Result<AuditCheck> StateStore::verify_audit() {
  Statement q(*db_, "SELECT id, at, who, action, detail, hash FROM audit ORDER BY id");
  AuditCheck c;
  std::string previous;
  bool chained = false;
  while (q.step()) {
    ++c.entries;
    const std::string hash = q.text(5);
    if (c.broken_at) continue;
    if (hash.empty()) {
      if (!chained) {
        ++c.unchained;
        continue;
      }
      c.broken_at = q.integer(0);
      c.why = "entry without a hash after the chain began";
      continue;
    }
    chained = true;
    if (audit_hash(previous, q.text(1), q.text(2), q.text(3), q.text(4)) != hash) {
      c.broken_at = q.integer(0);
      c.why = "hash does not match the entry and the one before it (changed, removed or inserted)";
      continue;
    }
    previous = hash;
  }
  if (!q.status()) return q.status().error();
  return c;
}

Result<AuditHead> StateStore::audit_head() {
  Statement q(*db_, "SELECT id, COALESCE(hash, '') FROM audit ORDER BY id DESC LIMIT 1");
  AuditHead h;
  if (q.step()) h = AuditHead{q.integer(0), q.text(1)};
  if (!q.status()) return q.status().error();
  return h;
}

Result<std::optional<std::string>> StateStore::audit_hash_at(std::int64_t entry) {
  Statement q(*db_, "SELECT COALESCE(hash, '') FROM audit WHERE id=?");
  q.bind(1, entry);
  std::optional<std::string> out;
  if (q.step()) out = q.text(0);
  if (!q.status()) return q.status().error();
  return out;
}

Result<std::vector<std::vector<std::string>>> StateStore::audit_log() {
  Statement q(*db_, "SELECT at, who, action, detail FROM audit ORDER BY id");
  std::vector<std::vector<std::string>> out;
  while (q.step()) out.push_back({q.text(0), q.text(1), q.text(2), q.text(3)});
  if (!q.status()) return q.status().error();
  return out;
}

Result<std::string> StateStore::integrity_check() {
  Statement q(*db_, "PRAGMA integrity_check");
  std::string out;
  while (q.step()) out += q.text(0);
  if (!q.status()) return q.status().error();
  return out;
}

Status StateStore::save_bulk_job(const BulkJob& job) {
  Statement q(
      *db_,
      "INSERT INTO bulk_jobs(source, status_url, kicked_off) VALUES (?,?,?) ON CONFLICT(source) DO UPDATE "
      "SET status_url=excluded.status_url, kicked_off=excluded.kicked_off");
  q.bind(1, job.source).bind(2, job.status_url).bind(3, job.kicked_off);
  return q.run();
}

Result<std::optional<BulkJob>> StateStore::bulk_job(const std::string& source) {
  Statement q(*db_, "SELECT source, status_url, kicked_off FROM bulk_jobs WHERE source=?");
  q.bind(1, source);
  std::optional<BulkJob> out;
  if (q.step()) out = BulkJob{q.text(0), q.text(1), q.text(2)};
  if (!q.status()) return q.status().error();
  return out;
}

Status StateStore::clear_bulk_job(const std::string& source) {
  Statement q(*db_, "DELETE FROM bulk_jobs WHERE source=?");
  q.bind(1, source);
  return q.run();
}

Status StateStore::delete_resources(const std::string& source, const std::vector<std::string>& keys) {
  if (keys.empty()) return Status::success();
  Transaction tx(*db_);
  if (!tx.begun()) return tx.begun();
  for (const auto& key : keys) {
    const auto slash = key.find('/');
    if (slash == std::string::npos) continue;
    Statement del(*db_, "DELETE FROM resources WHERE source=? AND type=? AND id=?");
    auto st = del.bind(1, source)
                  .bind(2, std::string_view(key).substr(0, slash))
                  .bind(3, std::string_view(key).substr(slash + 1))
                  .run();
    if (!st) return st;
  }
  return tx.commit();
}

Result<std::unique_ptr<RunLock>> RunLock::acquire(const fs::path& dir) {
  if (auto d = make_private_dir(dir, "state folder"); !d) return d.error();
  const std::string path = (dir / "run.lock").string();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(std::string("cannot open the run lock: ") + std::strerror(errno), path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    ::close(fd);
    if (e == EWOULDBLOCK) return make_error(std::string(kHeld), dir.string());
    return make_error(std::string("cannot lock: ") + std::strerror(e), path);
  }
  return std::unique_ptr<RunLock>(new RunLock(fd));
}

RunLock::~RunLock() {
  ::close(fd_);
}

}  // namespace cf::store
