#define BOOST_TEST_MODULE store
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "store/schema.hpp"
#include "store/sqlite.hpp"
#include "store/state_store.hpp"
#include "support/scenario.hpp"

using namespace cf;

namespace {

// A run begun in `st` on `as_of` (status running), with the id the store gave it.
store::RunRecord begun_run(store::StateStore& st, const std::string& as_of = "2026-11-26") {
  store::RunRecord r;
  r.started = as_of + "T01:00:00Z";
  r.as_of = as_of;
  r.source = "files:x";
  r.trial_id = "T";
  r.trial_version = "1";
  r.trial_sha256 = "abc";
  r.user = "me";
  auto id = st.begin_run(r);
  BOOST_REQUIRE(id);
  r.id = *id;
  return r;
}

// A run of one patient (p1, eligible) recorded with its audit entry; returns its id.
std::int64_t recorded_run(store::StateStore& st, const std::string& detail, bool complete) {
  store::RunRecord r = begun_run(st);
  r.complete = complete;
  BOOST_REQUIRE(st.finish_run(
      r, 1, [](std::size_t) { return store::PatientResult{"p1", "eligible", 1, 1.0, {}, "{}"}; },
      {"me", "run", detail}));
  return r.id;
}

// Runs `sql` on a state folder's database directly, as a tamperer or an older version of the tool would.
void raw_sql(const std::filesystem::path& state_dir, const std::string& sql) {
  auto db = store::Db::open((state_dir / "state.db").string());
  BOOST_REQUIRE(db);
  BOOST_REQUIRE((*db)->exec(sql));
}

}  // namespace

BOOST_AUTO_TEST_CASE(transactions_roll_back_unless_committed) {
  test::TempDir dir;
  auto db = store::Db::open((dir.path / "t.db").string());
  BOOST_REQUIRE(db);
  BOOST_REQUIRE((*db)->exec("CREATE TABLE t (x INTEGER)"));
  {
    store::Transaction tx(**db);
    BOOST_REQUIRE(tx.begun());
    BOOST_REQUIRE((*db)->exec("INSERT INTO t VALUES (1)"));
  }  // no commit: rolled back
  {
    store::Transaction tx(**db);
    BOOST_REQUIRE((*db)->exec("INSERT INTO t VALUES (2)"));
    BOOST_REQUIRE(tx.commit());
  }
  store::Statement q(**db, "SELECT group_concat(x) FROM t");
  BOOST_REQUIRE(q.step());
  BOOST_TEST(q.text(0) == "2");
  struct stat st {};
  BOOST_REQUIRE(::stat((dir.path / "t.db").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
}

BOOST_AUTO_TEST_CASE(state_store_runs_feedback_audit) {
  test::TempDir dir;
  auto s = store::StateStore::open(dir.path / "state");
  BOOST_REQUIRE(s);
  auto& st = **s;
  store::RunRecord r = begun_run(st);
  const std::int64_t id1 = r.id;
  r.complete = true;
  r.patients = 1;
  BOOST_REQUIRE(st.finish_run(r, 1,
                              [](std::size_t) {
                                return store::PatientResult{"p1", "eligible", 1, 10.5, {{"I2", "met"}}, "{}"};
                              },
                              {"me", "run", "run 1"}));
  auto id2 = st.begin_run(r);  // killed: never finished
  BOOST_REQUIRE(id2);
  BOOST_REQUIRE(st.abandon_stale_runs());
  auto last = st.last_finished_run();
  BOOST_REQUIRE(last);
  BOOST_REQUIRE(last->has_value());
  BOOST_TEST((*last)->id == id1);
  auto res = st.results(id1);
  BOOST_REQUIRE(res);
  BOOST_TEST(*res->at("p1").outcome("I2") == "met");
  // A run that stops with an error records why; a finished or abandoned run is not changed by it.
  auto id3 = st.begin_run(r);
  BOOST_REQUIRE(id3);
  BOOST_REQUIRE(st.fail_run(*id3, "report.html.tmp: cannot write: No space left on device"));
  BOOST_REQUIRE(st.fail_run(id1, "late"));
  BOOST_REQUIRE(st.fail_run(*id2, "late"));
  auto h = st.history();
  BOOST_REQUIRE(h);
  BOOST_REQUIRE(h->size() == 3u);
  BOOST_TEST((h->at(0).status == "complete" && h->at(0).failure.empty()));
  BOOST_TEST(h->at(0).mappings_sha256.empty());  // from before schema 7: the next pull is a full one
  BOOST_TEST((h->at(1).status == "abandoned" && h->at(1).failure.empty()));
  BOOST_TEST(h->at(2).status == "abandoned");
  BOOST_TEST(h->at(2).failure == "report.html.tmp: cannot write: No space left on device");
  BOOST_TEST(!h->at(2).finished.empty());
  BOOST_REQUIRE(st.add_feedback({"p1", "screened", "", "t1", "me"}));
  BOOST_REQUIRE(st.add_feedback({"p1", "enrolled", "", "t2", "me"}));
  BOOST_TEST(st.feedback()->at("p1").status == "enrolled");
  BOOST_TEST(!st.add_feedback({"p1", "maybe", "", "t3", "me"}));  // CHECK constraint
  const auto log = st.audit_log();
  BOOST_REQUIRE(log);
  BOOST_REQUIRE(log->size() == 4u);  // p1's disclosure, the run and two feedbacks (not the refused one)
  BOOST_TEST(((*log)[0][1] == "me" && (*log)[0][2] == "disclose"));
  BOOST_TEST(((*log)[1][1] == "me" && (*log)[1][2] == "run" && (*log)[1][3] == "run 1"));
  BOOST_TEST(((*log)[3][2] == "feedback" && (*log)[3][3] == "patient p1: enrolled"));
  BOOST_TEST(*st.integrity_check() == "ok");
}

// Outcomes come back in the order they were stored (the trial definition's), not sorted by id.
BOOST_AUTO_TEST_CASE(outcomes_keep_the_trials_order) {
  test::TempDir dir;
  auto s = store::StateStore::open(dir.path / "state");
  BOOST_REQUIRE(s);
  const store::RunRecord r = begun_run(**s);
  const std::vector<std::pair<std::string, std::string>> order = {
      {"I2", "met"}, {"I10", "unknown"}, {"E-SLN", "not_met"}, {"A-LAB", "manual"}};
  BOOST_REQUIRE((*s)->finish_run(
      r, 1, [&](std::size_t) { return store::PatientResult{"p1", "possible", 1, 1.0, order, "{}"}; },
      {"me", "run", "run"}));
  const auto back = (*s)->result(r.id, "p1");
  BOOST_REQUIRE((back && *back));
  BOOST_TEST(((*back)->outcomes == order));
  BOOST_TEST(*(*back)->outcome("E-SLN") == "not_met");
  BOOST_TEST(*(*back)->outcome("E-SLN", 2) == "not_met");  // where it is expected
  BOOST_TEST(*(*back)->outcome("E-SLN", 0) == "not_met");  // elsewhere: still found
  BOOST_TEST(*(*back)->outcome("A-LAB", 99) == "manual");  // a hint past the end
  BOOST_TEST(!(*back)->outcome("I3"));
}

// Retention: the lines of all but the latest runs are emptied, their decisions kept; pruning again changes
// nothing, and keep 0 prunes nothing.
BOOST_AUTO_TEST_CASE(prune_lines_keeps_the_latest_runs_lines_and_every_decision) {
  test::TempDir dir;
  auto s = store::StateStore::open(dir.path / "state");
  BOOST_REQUIRE(s);
  auto& st = **s;
  BOOST_TEST(*st.prune_lines(2, "me") == 0);  // no run yet
  std::vector<std::int64_t> runs;
  for (int night = 1; night <= 3; ++night) {
    store::RunRecord r = begun_run(st);
    r.complete = true;
    BOOST_REQUIRE(st.finish_run(r, 1,
                                [&](std::size_t) {
                                  return store::PatientResult{
                                      "p1", "eligible",      1,
                                      10.5, {{"I2", "met"}}, "{\"night\":" + std::to_string(night) + "}"};
                                },
                                {"me", "run", "night"}));
    runs.push_back(r.id);
  }
  BOOST_TEST(*st.prune_lines(0, "me") == 0);
  BOOST_TEST((*st.result(runs[0], "p1"))->line == "{\"night\":1}");
  for (int again = 0; again < 2; ++again) {
    auto kept = st.prune_lines(2, "me");
    BOOST_REQUIRE(kept);
    BOOST_TEST(*kept == runs[1]);
    BOOST_TEST((*st.result(runs[0], "p1"))->line.empty());
    BOOST_TEST((*st.result(runs[1], "p1"))->line == "{\"night\":2}");
    BOOST_TEST((*st.result(runs[2], "p1"))->line == "{\"night\":3}");
    const auto pruned = *st.result(runs[0], "p1");
    BOOST_TEST((pruned->tier == "eligible" && pruned->rank == 1 && *pruned->outcome("I2") == "met"));
  }
  BOOST_TEST(*st.integrity_check() == "ok");
}

// RELIABILITY H9: patient data the store lets go of (a resource deleted on the server, a results line pruned,
// an old version of a resource) is overwritten, not left in free pages of the database or its WAL.
BOOST_AUTO_TEST_CASE(deleted_patient_data_leaves_no_trace_in_the_files) {
  test::TempDir dir;
  const std::string gone = "CANARY-DELETED-7c1", old = "CANARY-OLDVERSION-7c1", line = "CANARY-LINE-7c1";
  auto resource = [](const std::string& id, const std::string& version, const std::string& text) {
    return store::StoredResource{"Observation",
                                 id,
                                 version,
                                 "2026-11-0" + version + "T00:00:00Z",
                                 "p1",
                                 "f.ndjson",
                                 "{\"resourceType\":\"Observation\",\"note\":\"" + text + "\"}"};
  };
  {
    auto s = store::StateStore::open(dir.path / "state");
    BOOST_REQUIRE(s);
    auto& st = **s;
    for (int night = 1; night <= 2; ++night) {
      store::RunRecord r = begun_run(st);
      r.complete = true;
      store::ResourceUpdate u{"files:x", {}, false, ""};
      if (night == 1) u.pulled = {resource("gone", "1", gone), resource("kept", "1", old)};
      if (night == 2) u.pulled = {resource("kept", "2", "new version")};
      BOOST_REQUIRE(st.finish_run(
          r, 1,
          [&](std::size_t) {
            return store::PatientResult{"p1", "eligible", 1, 1.0, {{"I2", "met"}}, night == 1 ? line : "{}"};
          },
          {"me", "run", "night"}, &u));
    }
    BOOST_REQUIRE(st.delete_resources("files:x", {"Observation/gone"}));
    BOOST_REQUIRE(st.prune_lines(1, "me"));
    BOOST_TEST(st.resources("files:x")->size() == 1u);
  }  // closed: the WAL is checkpointed into the database
  std::size_t files = 0, kept = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path)) {
    if (!e.is_regular_file()) continue;
    ++files;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const auto& canary : {gone, old, line})
      BOOST_TEST(bytes.find(canary) == std::string::npos, canary << " in " << e.path().filename());
    kept += bytes.find("new version") != std::string::npos;
  }
  BOOST_TEST(files >= 1u);
  BOOST_TEST(kept == 1u);  // the scan does see what the store still holds
}

// RELIABILITY H6: the audit log is a hash chain, and a run records one disclosure entry per candidate.
BOOST_AUTO_TEST_CASE(the_audit_log_is_a_hash_chain_with_a_disclosure_per_candidate) {
  test::TempDir dir;
  {
    auto s = store::StateStore::open(dir.path / "state");
    BOOST_REQUIRE(s);
    auto& st = **s;
    const auto none = st.audit_head();
    BOOST_REQUIRE(none);
    BOOST_TEST((none->entry == 0 && none->hash.empty()));
    store::RunRecord r = begun_run(st);
    r.complete = true;
    const std::vector<std::string> tiers = {"eligible", "possible", "ineligible", "possible"};
    BOOST_REQUIRE(st.finish_run(r, tiers.size(),
                                [&](std::size_t i) {
                                  return store::PatientResult{
                                      "p" + std::to_string(i), tiers[i], 1, 1.0, {}, "{}"};
                                },
                                {"me", "run", "night"}, nullptr, {"GET Patient?_count=10"}));
    const auto run_head = st.audit_head();
    BOOST_REQUIRE(run_head);
    BOOST_TEST(run_head->entry == 5);  // the run's own entry, after its query and 3 disclosures
    BOOST_REQUIRE(st.add_feedback({"p0", "screened", "", "t1", "me"}));
    const auto head = st.audit_head();
    BOOST_REQUIRE(head);
    BOOST_TEST(head->entry == 6);
    BOOST_TEST(head->hash.size() == 64u);
    const auto at6 = st.audit_hash_at(6), at5 = st.audit_hash_at(5), at7 = st.audit_hash_at(7);
    BOOST_REQUIRE((at6 && at5 && at7));
    BOOST_TEST((*at6 && **at6 == head->hash));
    BOOST_TEST((*at5 && **at5 == run_head->hash && **at5 != head->hash));
    BOOST_TEST(!*at7);  // no such entry
    const auto log = st.audit_log();
    BOOST_REQUIRE(log);
    std::vector<std::string> actions;
    for (const auto& e : *log) actions.push_back(e[2]);
    BOOST_TEST(
        actions == (std::vector<std::string>{"query", "disclose", "disclose", "disclose", "run", "feedback"}),
        boost::test_tools::per_element());
    BOOST_TEST((*log)[0][3] == "run 1: GET Patient?_count=10");
    BOOST_TEST((*log)[2][3].find("patient p1: possible") == 0u, (*log)[2][3]);
    const auto ok = st.verify_audit();
    BOOST_REQUIRE(ok);
    BOOST_TEST((ok->entries == 6u && ok->broken_at == 0 && ok->unchained == 0u));
  }
  // Editing, removing or inserting an entry (here with the append-only triggers dropped) breaks the chain
  // there.
  const std::vector<std::pair<std::string, std::int64_t>> tampering = {
      {"UPDATE audit SET detail='patient p9: eligible' WHERE id=2", 2},
      {"DELETE FROM audit WHERE id=3", 4},
      {"INSERT INTO audit(at, who, action, detail, hash) VALUES ('t', 'x', 'run', 'y', 'z')", 7}};
  for (const auto& [sql, breaks_at] : tampering) {
    test::TempDir copy;
    std::filesystem::copy(dir.path / "state", copy.path / "state");
    raw_sql(copy.path / "state",
            "DROP TRIGGER audit_append_only_update; DROP TRIGGER audit_append_only_delete; " + sql);
    auto s = store::StateStore::open(copy.path / "state");
    BOOST_REQUIRE(s);
    const auto c = (*s)->verify_audit();
    BOOST_REQUIRE(c);
    BOOST_TEST(c->broken_at == breaks_at, sql);
  }
}

// A change and its audit entry commit together: when the entry cannot be written (here a trigger refuses it,
// as a full disk or a damaged table would), the run, the pruning and the feedback are not recorded either.
BOOST_AUTO_TEST_CASE(nothing_is_recorded_without_its_audit_entry) {
  test::TempDir dir;
  std::int64_t run_id = 0;
  {
    auto s = store::StateStore::open(dir.path / "state");
    BOOST_REQUIRE(s);
    for (int night = 1; night <= 2; ++night) run_id = recorded_run(**s, "night", false);
  }
  raw_sql(dir.path / "state",
          "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN "
          "SELECT RAISE(ABORT, 'audit log unavailable'); END");
  auto s = store::StateStore::open(dir.path / "state");
  BOOST_REQUIRE(s);
  auto& st = **s;
  store::RunRecord r = begun_run(st, "2026-11-27");
  r.complete = true;
  const auto f = st.finish_run(
      r, 1, [](std::size_t) { return store::PatientResult{"p2", "possible", 1, 2.0, {}, "{}"}; },
      {"me", "run", "night 3"});
  BOOST_REQUIRE(!f);
  BOOST_TEST(f.error().message.find("audit log unavailable") != std::string::npos, f.error().message);
  BOOST_TEST(st.results(r.id)->empty());  // the results rolled back with it
  BOOST_TEST((*st.last_finished_run())->id == run_id);
  BOOST_TEST(!st.prune_lines(1, "me"));
  BOOST_TEST(!(*st.result(1, "p1"))->line.empty());  // not pruned
  BOOST_TEST(!st.add_feedback({"p1", "screened", "", "t1", "me"}));
  BOOST_TEST(st.feedback()->empty());
}

// Pruning finds the rows with lines through their index, not by reading every row of every night stored.
BOOST_AUTO_TEST_CASE(pruning_reads_only_rows_that_still_have_lines) {
  test::TempDir dir;
  auto db = store::Db::open((dir.path / "state.db").string());
  BOOST_REQUIRE(db);
  BOOST_REQUIRE(store::migrate(**db));
  store::Statement plan(**db, std::string("EXPLAIN QUERY PLAN ") + store::kPruneLinesSql);
  std::string details;
  while (plan.step()) details += plan.text(3) + "\n";
  BOOST_TEST(details.find("results_with_line") != std::string::npos, details);
}

BOOST_AUTO_TEST_CASE(one_run_at_a_time) {
  test::TempDir dir;
  auto a = store::RunLock::acquire(dir.path);
  BOOST_REQUIRE(a);
  auto b = store::RunLock::acquire(dir.path);
  BOOST_REQUIRE(!b);
  BOOST_TEST(b.error().message.find("another cohort-finder run") != std::string::npos);
  a->reset();
  BOOST_TEST(store::RunLock::acquire(dir.path).ok());
}

// A state folder written by the tool before schema 5 (runs.failure) and 6 (audit.hash) opens with its runs
// and audit entries kept: the old entries stand ahead of the chain, new ones are chained, and the whole
// verifies.
BOOST_AUTO_TEST_CASE(a_schema_4_state_folder_is_upgraded_in_place) {
  test::TempDir dir;
  {
    auto s = store::StateStore::open(dir.path / "state");
    BOOST_REQUIRE(s);
    recorded_run(**s, "night 1", true);
  }
  // Back to what schema 4 had (SQLite drops columns since 3.35).
  raw_sql(dir.path / "state",
          "ALTER TABLE audit DROP COLUMN hash; ALTER TABLE runs DROP COLUMN failure; "
          "ALTER TABLE runs DROP COLUMN mappings_sha256; "
          "DELETE FROM schema_version WHERE version > 4");
  auto s = store::StateStore::open(dir.path / "state");
  BOOST_REQUIRE(s);
  auto& st = **s;
  const std::int64_t failed = begun_run(st).id;
  BOOST_REQUIRE(st.fail_run(failed, "disk full"));
  BOOST_REQUIRE(st.add_feedback({"p1", "screened", "", "t1", "me"}));
  const auto h = st.history();
  BOOST_REQUIRE(h);
  BOOST_REQUIRE(h->size() == 2u);
  BOOST_TEST((h->at(0).status == "complete" && h->at(0).failure.empty()));
  BOOST_TEST(h->at(1).failure == "disk full");
  const auto c = st.verify_audit();
  BOOST_REQUIRE(c);
  BOOST_TEST(c->entries == 3u);    // p1's disclosure and night 1 from before, the feedback after
  BOOST_TEST(c->unchained == 2u);  // the two written under schema 4
  BOOST_TEST(c->broken_at == 0);
}

BOOST_AUTO_TEST_CASE(newer_schema_is_refused) {
  test::TempDir dir;
  {
    auto db = store::Db::open((dir.path / "state.db").string());
    BOOST_REQUIRE(db);
    BOOST_REQUIRE(store::migrate(**db));
    BOOST_REQUIRE((*db)->exec("INSERT INTO schema_version VALUES (99)"));
  }
  auto s = store::StateStore::open(dir.path);
  BOOST_REQUIRE(!s);
  BOOST_TEST(s.error().message.find("newer than this tool") != std::string::npos);
}

// Two processes opening a state folder right after an upgrade (the night's run and a coordinator's
// `history`) both see the old version; the second to get the write lock must not apply a step again
// ("duplicate column name"). Threads stand in for the processes, many times, since the window is short.
BOOST_AUTO_TEST_CASE(two_openers_upgrade_a_state_folder_once) {
  int failures = 0;
  for (int round = 0; round < 20; ++round) {
    test::TempDir dir;
    {
      auto s = store::StateStore::open(dir.path / "state");
      BOOST_REQUIRE(s);
    }
    raw_sql(dir.path / "state",
            "ALTER TABLE runs DROP COLUMN mappings_sha256; DELETE FROM schema_version WHERE version > 6");
    std::atomic<int> ready{0};
    std::atomic<int> failed{0};
    auto open = [&] {
      ++ready;
      while (ready.load() < 2) {
      }
      if (!store::StateStore::open(dir.path / "state")) ++failed;
    };
    std::thread a(open), b(open);
    a.join();
    b.join();
    failures += failed.load();
  }
  BOOST_TEST(failures == 0);
}
