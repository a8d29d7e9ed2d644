#include "app/run.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "core/crash_point.hpp"
#include "core/files.hpp"
#include "core/sha256.hpp"
#include "core/task_pool.hpp"
#include "core/temp_file.hpp"
#include "criteria/trial.hpp"
#include "fhir/extract.hpp"
#include "fhir/reference.hpp"
#include "json/json.hpp"
#include "json/raw_member.hpp"
#include "ranking/ranking.hpp"
#include "report/fhir_group.hpp"
#include "report/html_report.hpp"
#include "report/outputs.hpp"
#include "report/privacy.hpp"
#include "source/bulk_source.hpp"
#include "store/state_store.hpp"
#include "terminology/patient_record.hpp"

namespace cf::app {

namespace fs = std::filesystem;

std::string version() {
  return "0.1.0";
}

namespace {

using store::now_utc;

// A spill file (about 40 MB of input) is evaluated in this many partitions (terminology/spill.hpp).
constexpr std::size_t kPartitionsPerFile = 8;

// The spill buckets for a source of `input_bytes` (0: unknown), within this process's open-file limit.
std::size_t spill_buckets(std::uint64_t input_bytes) {
  rlimit lim{};
  const bool limited = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY;
  return terminology::spill_bucket_count(input_bytes, limited ? lim.rlim_cur : UINT64_MAX);
}

// Runs f(0..n-1) on `threads` threads; each index once. An exception in any of them (bad_alloc) stops the
// others and is rethrown here, on the caller's thread, where main() reports it.
template <class F>
void parallel_for(std::size_t n, std::size_t threads, F&& f) {
  threads = std::min(threads, n / 64 + 1);  // small partitions are not worth a thread
  if (threads <= 1) {
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) f(i);
    } catch (...) {
      std::lock_guard lock(mu);
      if (!failure) failure = std::current_exception();
      next = n;
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

// An ISO instant (YYYY-MM-DDThh:mm:ssZ) minus some seconds, for the incremental pull's safety margin.
std::string minus_seconds(const std::string& instant, int seconds) {
  std::tm tm{};
  if (!strptime(instant.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm)) return instant;
  std::time_t t = timegm(&tm) - seconds;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Compares tonight's outcomes with the previous run's stored results. A candidate of that run not read
// tonight is 'dropped' when tonight's read was complete (the source no longer has them) and 'unread' when it
// was not (a failed page or type may be why): a coordinator must not take an outage for a lost candidate.
std::vector<report::Change> compare_runs(const criteria::Trial& trial,
                                         const std::map<std::string, store::PatientResult>& before,
                                         const std::vector<ranking::PatientOutcome>& now, bool complete,
                                         const std::map<std::string, store::Feedback>& feedback) {
  std::vector<report::Change> out;
  std::set<std::string> seen;
  auto candidate = [](const std::string& tier) { return tier == "eligible" || tier == "possible"; };
  for (const auto& o : now) {
    seen.insert(o.patient_id);
    const std::string tier = ranking::to_string(o.tier);
    auto it = before.find(o.patient_id);
    report::Change c;
    c.patient = o.patient_id;
    c.new_tier = tier;
    c.new_rank = o.rank;
    c.screening_status = o.screening_status;
    if (it != before.end()) {
      c.old_tier = it->second.tier;
      c.old_rank = static_cast<int>(it->second.rank);
      for (std::size_t i = 0; i < trial.criteria.size(); ++i) {
        const std::string* prev = it->second.outcome(trial.criteria[i].id, i);
        const std::string was = prev ? *prev : "?";
        const std::string is = criteria::to_string(ranking::outcome_at(o, i));
        if (was != is)
          c.criteria_changed +=
              (c.criteria_changed.empty() ? "" : " | ") + trial.criteria[i].id + ": " + was + " -> " + is;
      }
      if (o.deceased && it->second.tier != "ineligible")
        c.criteria_changed = "deceased" + (c.criteria_changed.empty() ? "" : " | " + c.criteria_changed);
    }
    const bool was_candidate = it != before.end() && candidate(it->second.tier);
    if (candidate(tier) && !was_candidate) {
      c.kind = "new";
    } else if (!candidate(tier) && was_candidate) {
      c.kind = "dropped";
    } else if (candidate(tier) && c.old_tier != tier) {
      c.kind = "tier";
    } else if (candidate(tier) && c.old_rank != c.new_rank) {
      c.kind = "rank";
    } else {
      continue;
    }
    out.push_back(std::move(c));
  }
  for (const auto& [id, r] : before)
    if (!seen.count(id) && candidate(r.tier)) {
      auto fb = feedback.find(id);
      out.push_back(
          report::Change{complete ? "dropped" : "unread", id, r.tier, "", static_cast<int>(r.rank), 0,
                         complete ? "no longer in the source" : "not read tonight (source incomplete)",
                         fb == feedback.end() ? "" : fb->second.status});
    }
  std::stable_sort(out.begin(), out.end(), [](const report::Change& a, const report::Change& b) {
    auto order = [](const std::string& k) {
      return k == "new" ? 0 : k == "dropped" ? 1 : k == "unread" ? 2 : k == "tier" ? 3 : 4;
    };
    return order(a.kind) < order(b.kind);
  });
  return out;
}

}  // namespace

struct Prepared {
  std::shared_ptr<const terminology::Terminology> terms;
  criteria::Trial trial;
};

Result<std::shared_ptr<const Prepared>> prepare(const RunOptions& opts) {
  auto terms = terminology::Terminology::load(opts.mappings);
  if (!terms) return terms.error();
  auto trial = criteria::Trial::load(opts.trial, **terms);
  if (!trial) return trial.error();
  return std::shared_ptr<const Prepared>(new Prepared{*terms, std::move(*trial)});
}

const std::vector<std::string>& unverified_codes(const Prepared& prepared) {
  return prepared.terms->unverified_codes();
}

namespace {

// Whether a drug line whose codes and names the mappings do not know may be skipped: only when its
// medicationCodeableConcept, parsed alone and read as the extractor reads it, names another drug, so that
// finish_partition would drop the use after parsing it, and its subject is a plain local Patient reference
// (one to another server marks the patient's drugs incomplete when parsed). A drug nothing identifies (a
// brand, an unmapped local code) must be kept as an unidentified use (I6d's "no other therapy"); anything
// unusual is parsed.
bool names_other_drug(const terminology::Terminology& terms, std::string_view line) {
  static constexpr std::string_view kKeys[] = {"medicationCodeableConcept", "subject"};
  json::RawMember found[2];
  std::string_view values[2];
  json::raw_top_level_members(line, kKeys, found, values);
  if (found[0] != json::RawMember::once || found[1] != json::RawMember::once) return false;
  thread_local json::LineDocument doc;
  json::ParseError err;
  if (!json::parse(values[1], doc, err) || !doc.doc().IsObject()) return false;
  const auto ref = json::string(json::member(doc.doc(), "reference"));
  if (!ref || ref->find("://") != std::string_view::npos || fhir::patient_id_from_reference(*ref).empty())
    return false;
  if (!json::parse(values[0], doc, err) || !doc.doc().IsObject()) return false;
  IssueLog ignored;  // the line is parsed in full, issues and all, whenever this says no
  return terms.names_other_drug(
      fhir::extract_codeable_concept(doc.doc(), "medicationCodeableConcept", ignored));
}

}  // namespace

std::shared_ptr<const source::LineFilter> line_filter_for(const Prepared& prepared) {
  source::LineFilterConfig c;
  c.read_types = {"Patient",           "Condition",           "Observation",
                  "MedicationRequest", "MedicationStatement", "MedicationAdministration",
                  "Procedure",         "Medication"};
  using T = fhir::ResourceType;
  const std::pair<const char*, T> screened[] = {{"Observation", T::observation},
                                                {"Condition", T::condition},
                                                {"Procedure", T::procedure},
                                                {"MedicationRequest", T::medication_request},
                                                {"MedicationStatement", T::medication_statement},
                                                {"MedicationAdministration", T::medication_administration}};
  for (const auto& [name, type] : screened) {
    auto terms = prepared.terms->line_screen(type);
    source::CodeScreen& s = c.screens[name];
    s.codes.insert(terms.codes.begin(), terms.codes.end());
    s.ranges = std::move(terms.ranges);
    s.texts = std::move(terms.texts);
    if (type == T::observation || type == T::condition || type == T::procedure) continue;
    // A medication given by reference is kept whatever its code (the Medication may come later or be
    // contained), so such lines are always parsed.
    s.parse_if_key = {"\"medicationReference\""};
    s.skip_unmatched = [terms = prepared.terms](std::string_view line) {
      return names_other_drug(*terms, line);
    };
  }
  return std::make_shared<const source::LineFilter>(std::move(c));
}

source::RestPlan rest_plan_for(const Prepared& prepared, bool population) {
  source::RestPlan plan;
  plan.population = population;
  const auto& t = *prepared.terms;
  plan.seed_conditions = t.search_tokens("sle");
  for (const char* c : {"ana_titre", "ana_presence", "anti_dsdna", "anti_sm"}) {
    auto v = t.search_tokens(c);
    plan.seed_observations.insert(plan.seed_observations.end(), v.begin(), v.end());
  }
  std::vector<std::string> codes, texts;
  if (t.observation_filter_terms(codes, texts)) {
    std::set<std::string> all;
    for (const auto& id : t.concept_ids(terminology::ConceptKind::observation))
      for (auto& tok : t.search_tokens(id)) all.insert(tok);
    plan.observation_codes.assign(all.begin(), all.end());
    plan.observation_texts = texts;
  }
  return plan;
}

namespace {

// What a run began in the state store, so that a run that stops with an error can say why (RELIABILITY S6).
struct Ledger {
  std::unique_ptr<store::StateStore> state;
  std::int64_t run_id = 0;
  bool finished = false;
};

Result<RunSummary> run_steps(const RunOptions& opts, const Prepared& prepared, source::Source& src,
                             Ledger& ledger) {
  const std::string started = now_utc();
  using Clock = std::chrono::steady_clock;
  const auto t_start = Clock::now();
  auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  std::optional<report::PrivacyKey> key;
  if (report::pseudonymised(opts.export_mode)) {
    auto k = report::read_privacy_key(opts.pseudonym_key);
    if (!k) return k.error();
    key = std::move(*k);
  }
  const report::PrivacyKey* pkey = key ? &*key : nullptr;
  const auto& terms = prepared.terms;
  const criteria::Trial* trial = &prepared.trial;

  bool out_tightened = false;
  if (auto d = make_private_dir(opts.out, "output folder", &out_tightened); !d) return d.error();

  std::unique_ptr<store::StateStore>& state = ledger.state;
  store::RunRecord record;
  if (!opts.state.empty()) {
    auto s = store::StateStore::open(opts.state);
    if (!s) return s.error();
    state = std::move(*s);
    // The caller holds the run lock, so any run still marked running was killed.
    if (auto a = state->abandon_stale_runs(); !a) return a.error();
    record.started = started;
    record.as_of = format_day(opts.as_of);
    record.source = src.describe();
    record.trial_id = trial->id;
    record.trial_version = trial->version;
    record.trial_sha256 = trial->sha256;
    {
      std::string shas;
      for (const auto& [file, sha] : terms->files()) shas += sha + "\n";
      record.mappings_sha256 = sha256_hex(shas);
    }
    record.out_dir = fs::absolute(opts.out).lexically_normal().string();
    record.user = store::current_user();
    auto id = state->begin_run(record);
    if (!id) return id.error();
    record.id = *id;
    ledger.run_id = *id;
  }

  // With a state folder: what was pulled before, and whether to ask the source only for changes.
  std::vector<store::StoredResource> stored;
  std::string incremental_since;
  std::string full_because;  // why a pull that could have been incremental was a full one
  if (state) {
    auto r = state->resources(src.describe());
    if (!r) return r.error();
    stored = std::move(*r);
    auto wm = state->watermark(src.describe());
    if (!wm) return wm.error();
    // What the store kept was chosen by last night's trial definition and mappings: if either changed, codes
    // that did not matter then may matter now, and only a full pull brings them.
    if (!opts.full && src.supports_incremental() && !wm->empty() && !stored.empty()) {
      auto runs = state->history();
      if (!runs) return runs.error();
      // Against the last complete run: the watermark is its, and an incomplete full pull after a change
      // (which already carries the new hashes) may have missed what only the new codes make relevant.
      for (auto past = runs->rbegin(); past != runs->rend(); ++past) {
        if (past->id == record.id || past->source != record.source || past->status != "complete") continue;
        if (past->trial_sha256 != record.trial_sha256 || past->mappings_sha256 != record.mappings_sha256)
          full_because = "the trial definition or the mappings changed since run " + std::to_string(past->id);
        break;
      }
    }
    // Deletions: a search for changes never returns what the server deleted, so a patient deleted there (or a
    // result withdrawn by deletion) would stay in the store night after night. A full pull now and then drops
    // it.
    if (!opts.full && full_because.empty() && src.supports_incremental() && !wm->empty() && !stored.empty()) {
      auto last_full = state->last_full_pull(src.describe());
      if (!last_full) return last_full.error();
      auto full_at = parse_instant_key(*last_full);
      const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
      if (!full_at || now - full_at->seconds >= static_cast<long long>(opts.full_every_days) * 86400)
        full_because =
            full_at ? "the last full pull (" + *last_full + ") is " + std::to_string(opts.full_every_days) +
                          " or more days old: deletions are seen only by a full pull (--full-every-days)"
                    : "no full pull on record";
    }
    if (!opts.full && full_because.empty() && src.supports_incremental() && !wm->empty() && !stored.empty()) {
      incremental_since = minus_seconds(*wm, opts.since_margin_seconds);
      std::set<std::string> known;
      for (const auto& s : stored)
        if (!s.patient.empty()) known.insert(s.patient);
      src.pull_changes_since(incremental_since, std::move(known));
    }
    src.set_keep_raw(true);
    // Bulk export: resume the job a killed run left, and keep the status URL durable before the first poll
    // (RELIABILITY B1). A URL that cannot be saved only makes the job not resumable.
    if (auto* bulk = dynamic_cast<source::BulkSource*>(&src)) {
      auto job = state->bulk_job(src.describe());
      if (!job) return job.error();
      if (*job) bulk->set_resume_url((*job)->status_url);
      bulk->on_status_url([&state, key = src.describe()](const std::string& url) {
        (void)(url.empty() ? state->clear_bulk_job(key) : state->save_bulk_job({key, url, store::now_utc()}));
      });
    }
  }

  IssueLog issues;
  terminology::Collector collector(terms);
  if (!opts.shard.whole())
    collector.set_patient_filter([s = opts.shard](const std::string& id) { return s.contains(id); });
  collector.set_spill(opts.out, opts.memory_budget_bytes, spill_buckets(src.size_hint()), kPartitionsPerFile);
  // The state store keeps what the collector keeps, and a resource that replaces one it has: a newer version
  // that no longer matters (recoded, say) must take the old one's place, or tomorrow's incremental night
  // would still read the old one from the store.
  std::set<std::string> stored_keys;
  for (const auto& s : stored) stored_keys.insert(s.type + "/" + s.id);
  std::vector<store::StoredResource> pulled;  // what the store keeps of what was read
  std::set<std::string> pulled_keys;          // their keys: the store's versions of these are replaced
  std::size_t delivered = 0, pages = 0;
  auto st = src.read(
      [&](source::Page&& page) {
        if (++pages == 2) crash_point("mid-pull");
        for (auto& r : page.resources) {
          ++delivered;
          if (!state) {
            collector.add(std::move(r));
            continue;
          }
          const fhir::Header& h = fhir::header(r);
          store::StoredResource row{fhir::to_string(h.type), h.id, h.version_id, h.last_updated, h.patient_id,
                                    h.origin.location,       h.raw};
          std::string resource_key = h.key();
          if (collector.add(std::move(r)) || stored_keys.count(resource_key)) {
            pulled.push_back(std::move(row));
            pulled_keys.insert(std::move(resource_key));
          }
        }
      },
      issues);
  if (!st) return st.error();
  // Resources a Bulk export reports deleted (RELIABILITY B9): dropped from the store before the results
  // commit (idempotent: after a crash in between the watermark has not moved, so the next night is told
  // again), and never taken from the store below.
  std::set<std::string> deleted;
  if (auto* bulk = dynamic_cast<source::BulkSource*>(&src))
    deleted.insert(bulk->deleted().begin(), bulk->deleted().end());
  if (state && !deleted.empty())
    if (auto d = state->delete_resources(src.describe(), {deleted.begin(), deleted.end()}); !d)
      return d.error();
  std::size_t from_store = 0;
  if (src.delivered_changes_only()) {
    // The unchanged rest comes from the store, exactly as it was pulled.
    for (auto& s : stored) {
      if (pulled_keys.count(s.type + "/" + s.id) || deleted.count(s.type + "/" + s.id)) continue;
      json::Document doc;
      json::ParseError perr;
      if (!json::parse(s.json, doc, perr)) {
        issues.add(Severity::error, "state-corrupt", "state store", s.type + "/" + s.id, "", perr.message);
        continue;
      }
      auto ex = fhir::extract_resource(doc, fhir::Origin{s.location}, issues);
      if (!ex.resource) continue;
      fhir::header(*ex.resource).patient_id = s.patient;
      fhir::header(*ex.resource).raw = std::move(s.json);
      collector.add(std::move(*ex.resource));
      ++from_store;
    }
  }
  if (!collector.status().ok()) return collector.status().error();
  const double read_seconds = seconds_since(t_start);
  const auto t_evaluate = Clock::now();

  const auto& completeness = src.completeness();
  criteria::IncompleteFn incomplete = [&](const std::string& patient, const std::string& type) {
    return completeness.incomplete(patient, type);
  };
  std::map<std::string, store::Feedback> feedback;
  if (state) {
    auto fb = state->feedback();
    if (!fb) return fb.error();
    feedback = std::move(*fb);
  }
  // Most of a hospital is ineligible: their results lines are written as they are decided, to a scratch file,
  // and only their decisions stay in memory (evidence is kept for the candidates, who are ranked).
  auto scratch = TempLines::create(opts.out);
  if (!scratch) return scratch.error();
  struct Lines {
    TempLines::Ref shown, stored;
  };
  std::vector<Lines> lines_at;  // by outcome, in the order evaluated (empty for those whose evidence stays)
  // Lines shown as evaluated: identified exports, and counts-only ones (which write no lines at all).
  const bool lines_as_stored =
      opts.export_mode == report::ExportMode::identified || opts.export_mode == report::ExportMode::counts;
  const bool two_lines = state && !lines_as_stored;
  const report::ResultLines result_lines(*trial, opts.ineligible_detail);
  auto shown_line = [&](const ranking::PatientOutcome& o) {
    return lines_as_stored
               ? result_lines.line(o)
               : result_lines.line(
                     report::apply_privacy({o}, opts.export_mode, pkey, trial, opts.as_of).front());
  };
  struct Evaluated {
    ranking::PatientOutcome outcome;
    bool missing_patient = false;
    std::string shown, stored;  // results lines of an ineligible patient
  };
  const std::size_t threads =
      std::max<std::size_t>(1, opts.threads ? opts.threads : std::thread::hardware_concurrency());
  // A partition's records are built and evaluated together. With one partition (everything fitted in
  // memory) its patients are spread over the threads; with several, the threads take whole partitions, a
  // bounded number ahead of the one being collected, which is always the next in order (so issues and
  // outputs do not depend on timing).
  struct Part {
    std::vector<Evaluated> done;
    IssueLog issues;
    Status status = Status::success();
  };
  auto process = [&](std::size_t part, Part& out, std::size_t inner_threads) {
    auto records = collector.finish_partition(part, out.issues);
    if (!records) {
      out.status = records.error();
      return;
    }
    std::vector<const terminology::PatientRecord*> recs;
    recs.reserve(records->size());
    for (const auto& [id, rec] : *records) recs.push_back(&rec);
    out.done.resize(recs.size());
    parallel_for(recs.size(), inner_threads, [&](std::size_t i) {
      const auto& rec = *recs[i];
      Evaluated& e = out.done[i];
      e.missing_patient = !rec.patient;
      criteria::Context ctx{rec, *terms, opts.as_of, incomplete, trial->sledai_window, std::nullopt};
      e.outcome = ranking::assess(*trial, ctx);
      auto& o = e.outcome;
      if (auto it = feedback.find(o.patient_id); it != feedback.end()) o.screening_status = it->second.status;
      if (o.tier != ranking::Tier::ineligible) return;
      e.shown = shown_line(o);
      if (two_lines) e.stored = result_lines.line(o);
      ranking::strip_evidence(o);
    });
  };
  std::vector<ranking::PatientOutcome> outcomes;
  if (auto it = src.stats().read_by_type.find("Patient"); it != src.stats().read_by_type.end()) {
    outcomes.reserve(it->second + 16);  // one growth less of a hospital-sized vector (about one per patient)
    lines_at.reserve(it->second + 16);
  }
  auto collect = [&](Part& p) -> Status {
    if (!p.status.ok()) return p.status;
    issues.merge(std::move(p.issues));
    for (auto& e : p.done) {
      if (e.missing_patient)
        issues.add(Severity::warning, "missing-patient", "", "Patient/" + e.outcome.patient_id, "",
                   "clinical resources reference a Patient that the source did not provide");
      if (e.outcome.evidence_stripped) {
        Lines l;
        auto a = (*scratch)->append(e.shown);
        if (!a) return a.error();
        l.shown = l.stored = *a;
        if (two_lines) {
          auto b = (*scratch)->append(e.stored);
          if (!b) return b.error();
          l.stored = *b;
        }
        lines_at.push_back(l);
      } else {
        lines_at.emplace_back();
      }
      outcomes.push_back(std::move(e.outcome));
    }
    std::vector<Evaluated>().swap(p.done);
    return Status::success();
  };
  const std::size_t n_parts = collector.partitions();
  if (n_parts == 1 || threads == 1) {
    for (std::size_t part = 0; part < n_parts; ++part) {
      Part p;
      process(part, p, n_parts == 1 ? threads : 1);
      if (auto c = collect(p); !c) return c.error();
      if (part == 0) crash_point("mid-evaluation");
    }
  } else {
    std::vector<Part> parts(n_parts);
    std::vector<char> ready(n_parts, 0);
    std::mutex mu;
    std::condition_variable cv;
    std::size_t next = 0, collected = 0;
    bool stop = false;
    const std::size_t ahead = threads + 1;  // partitions evaluated but not yet collected, at most
    auto worker = [&] {
      while (true) {
        std::size_t part;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return stop || next >= n_parts || next < collected + ahead; });
          if (stop || next >= n_parts) return;
          part = next++;
        }
        try {
          process(part, parts[part], 1);
        } catch (const std::exception& e) {  // a thread must not end the process: the run fails with it
          parts[part].status = make_error(std::string("internal error while evaluating: ") + e.what());
        }
        {
          std::lock_guard lock(mu);
          ready[part] = 1;
        }
        cv.notify_all();
      }
    };
    std::vector<std::thread> pool;
    // However this scope is left (an error, or an exception while collecting), the workers stop and are
    // joined.
    struct Joiner {
      std::vector<std::thread>& pool;
      std::mutex& mu;
      std::condition_variable& cv;
      bool& stop;
      ~Joiner() {
        {
          std::lock_guard lock(mu);
          stop = true;
        }
        cv.notify_all();
        for (auto& t : pool)
          if (t.joinable()) t.join();
      }
    } joiner{pool, mu, cv, stop};
    for (std::size_t t = 0; t < threads; ++t) pool.emplace_back(worker);
    Status failed = Status::success();
    for (std::size_t part = 0; part < n_parts && failed.ok(); ++part) {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return ready[part] != 0; });
      }
      failed = collect(parts[part]);
      {
        std::lock_guard lock(mu);
        collected = part + 1;
        if (!failed.ok()) stop = true;
      }
      cv.notify_all();
      if (part == 0) crash_point("mid-evaluation");
    }
    if (!failed.ok()) return failed.error();
  }
  const std::vector<std::size_t> evaluated_at = ranking::rank_all(outcomes);
  const double evaluate_seconds = seconds_since(t_evaluate);
  const auto t_output = Clock::now();

  std::vector<report::Change> changes;
  std::string change_summary;
  if (state) {
    // Against the last finished run. If it was incomplete, the patients it did not read have their results
    // from the last complete run: else they would come back tonight as 'new' (and a source incomplete every
    // night, say a type the token does not grant, would compare with a run long ago).
    auto prev = state->last_finished_run(record.id);
    if (!prev) return prev.error();
    std::map<std::string, store::PatientResult> before;
    if (*prev) {
      auto r = state->results((*prev)->id);
      if (!r) return r.error();
      before = std::move(*r);
      if ((*prev)->status != "complete") {
        auto last_complete = state->last_complete_run(record.id);
        if (!last_complete) return last_complete.error();
        if (*last_complete) {
          auto older = state->results((*last_complete)->id);
          if (!older) return older.error();
          for (auto& [id, res] : *older) before.try_emplace(id, std::move(res));
        }
      }
    }
    changes = compare_runs(*trial, before, outcomes, completeness.complete(), feedback);
    std::size_t n_new = 0, n_dropped = 0, n_unread = 0, n_tier = 0, n_rank = 0;
    for (const auto& c : changes) {
      n_new += c.kind == "new";
      n_dropped += c.kind == "dropped";
      n_unread += c.kind == "unread";
      n_tier += c.kind == "tier";
      n_rank += c.kind == "rank";
    }
    if (!incremental_since.empty() && src.delivered_changes_only())
      change_summary = "pulled " + std::to_string(delivered) + " changed resources since " +
                       incremental_since + " (" + std::to_string(from_store) +
                       " unchanged from the state store); ";
    change_summary +=
        *prev ? "since run " + std::to_string((*prev)->id) + " (as of " + (*prev)->as_of +
                    "): " + std::to_string(n_new) + " new, " + std::to_string(n_dropped) + " dropped, " +
                    (n_unread ? std::to_string(n_unread) + " not read tonight, " : "") +
                    std::to_string(n_tier) + " tier changes, " + std::to_string(n_rank) + " rank changes"
              : "first run in this state folder: every candidate is new";
  }

  report::RunInfo info;
  info.tool_version = version();
  // The line filter skips a line no criterion reads before it is parsed, so it cannot see that the line is a
  // newer version of a kept resource (recoded to a code nothing maps): the older version would then decide.
  // Bulk exports hold one version of each resource; a folder that holds several is told how to read it all.
  std::string prefilter_warning;
  if (collector.stats().duplicates > 0) {
    std::size_t skipped = 0;
    for (const auto& [type, n] : src.stats().prefiltered_by_type) skipped += n;
    if (skipped > 0) {
      prefilter_warning =
          std::to_string(collector.stats().duplicates) +
          " resource(s) came in more than one version, and the line filter skipped " +
          std::to_string(skipped) +
          " line(s) unparsed: a newer version recoded to a code no criterion reads would not "
          "replace an older one. Run with --prefilter off to read every line of such a source";
      issues.add(Severity::warning, "versions-and-prefilter", src.describe(), "", "", prefilter_warning);
    }
  }
  info.as_of = format_day(opts.as_of);
  info.source = src.describe();
  info.started = started;
  info.mapping_files = terms->files();
  info.read_by_type = src.stats().read_by_type;
  info.skipped_by_type = src.stats().skipped_by_type;
  info.rejected = src.stats().rejected;
  info.prefiltered_by_type = src.stats().prefiltered_by_type;
  info.files = src.stats().files;
  info.kept = collector.stats().kept;
  info.unmatched = collector.stats().unmatched;
  info.unidentified_drugs = terminology::unidentified_by_use(collector.stats().unidentified);
  info.duplicates = collector.stats().duplicates;
  info.unattributed = collector.stats().unattributed;
  info.complete = completeness.complete();
  for (const auto& t : completeness.run_types)
    info.incomplete.push_back((t == "*" ? "all types" : t) + " (all patients)");
  for (const auto& [p, types] : completeness.patient_types)
    for (const auto& t : types)
      info.incomplete.push_back((t == "*" ? "all types" : t) + " (patient " + p + ")");
  info.issues_by_kind = issues.counts_by_kind();

  // What the outputs show: the export mode applied once, to every writer (report/privacy.hpp).
  // (Identified exports show the outcomes as they are: no copy of a hospital's worth of them.)
  // (Counts-only exports show no patient: their one writer counts outcomes, which it takes as they are.)
  const bool counts_only = opts.export_mode == report::ExportMode::counts;
  std::vector<ranking::PatientOutcome> shown_copy;
  if (opts.export_mode != report::ExportMode::identified && !counts_only)
    shown_copy = report::apply_privacy(outcomes, opts.export_mode, pkey, trial, opts.as_of);
  const auto& shown = opts.export_mode == report::ExportMode::identified ? outcomes : shown_copy;
  auto line_of = [&](std::size_t i, bool for_store, std::string& out) -> Status {
    const auto& o = outcomes[i];
    if (!o.evidence_stripped) {
      out = for_store || opts.export_mode == report::ExportMode::identified ? result_lines.line(o)
                                                                            : result_lines.line(shown[i]);
      return Status::success();
    }
    const Lines& l = lines_at[evaluated_at[i]];
    return (*scratch)->read(for_store ? l.stored : l.shown, out);
  };
  info.export_mode = report::to_string(opts.export_mode);
  info.ineligible_detail = report::to_string(opts.ineligible_detail);
  info.shard = opts.shard.str();
  const auto shown_info = report::apply_privacy(info, opts.export_mode, pkey);
  const auto shown_issues = report::apply_privacy(issues.issues(), opts.export_mode, pkey);
  // RELIABILITY S6: each output replaces last night's whole or not at all, but a run that fails half-way
  // (disk full) would leave a mix of both nights; last night's manifest goes first, so that a folder without
  // a manifest says "incomplete" and one with a manifest lists exactly the files written with it.
  if (auto m = remove_file(opts.out / "manifest.json"); !m) return m.error();
  std::map<std::string, FileFingerprint> written;  // output -> fingerprint, for the manifest
  std::vector<std::string> names;                  // in the manifest's order
  if (counts_only) {
    // RELIABILITY H8: aggregates only. A previous night's patient-level outputs (another export mode) go, so
    // that the folder holds nothing this mode would not write.
    for (const char* n : {"candidates.csv", "results.ndjson", "report.html", "data_issues.ndjson",
                          "group.json", "changes.csv"})
      if (auto r = remove_file(opts.out / n); !r) return r.error();
    auto w =
        write_file_atomic(opts.out / "attrition.csv", report::attrition_csv(*trial, outcomes, &opts.cells));
    if (!w) return w.error();
    written["attrition.csv"] = *w;
    names = {"attrition.csv"};
  } else {
    // The outputs besides results.ndjson, in the manifest's order; report.html is streamed, the others are
    // built whole, one at a time, so that only one of them is in memory at once.
    names = {"candidates.csv", "attrition.csv", "data_issues.ndjson", "report.html", "group.json"};
    std::vector<std::function<std::string()>> writers = {
        [&] { return report::candidates_csv(shown); }, [&] { return report::attrition_csv(*trial, shown); },
        [&] { return report::issues_ndjson(shown_issues); },
        [] { return std::string(); },  // report.html: streamed below
        [&] { return report::fhir_group_json(*trial, shown_info, shown, opts.export_mode, pkey); }};
    if (state) {
      if (pkey)
        for (auto& c : changes) c.patient = pkey->pseudonym(c.patient);  // changes.csv names patients
      names.push_back("changes.csv");
      writers.push_back([&] { return report::changes_csv(changes); });
    } else if (auto r = remove_file(opts.out / "changes.csv"); !r) {
      // Without a state folder there is nothing to compare with: an earlier night's changes.csv left beside
      // tonight's candidates would be read as tonight's.
      return r.error();
    }
    // They are written on a second thread while results.ndjson (hundreds of MB for a hospital) is copied from
    // the scratch file on this one: all of them only read what the run decided. The pool is declared after
    // all they read and write, so that leaving early waits for them before any of it goes.
    std::map<std::string, FileFingerprint> written_aside;
    // results.ndjson failed: the other thread leaves last night's remaining files as they are.
    std::atomic<bool> main_failed{false};
    TaskPool output_thread(1);
    auto aside_done = output_thread.submit([&]() -> Status {
      {
        auto file = AtomicFile::create(opts.out / "report.html");
        if (!file) return file.error();
        Status w = Status::success();
        report::html_report(*trial, shown_info, shown, opts.export_mode, [&](std::string_view piece) {
          if (w.ok()) w = (*file)->write(piece);
        });
        if (!w) return w;
        if (auto c = (*file)->commit(); !c) return c;
        written_aside["report.html"] = (*file)->fingerprint();
      }
      for (std::size_t i = 0; i < names.size() && !main_failed; ++i) {
        if (names[i] == "report.html") continue;  // written above
        auto w = write_file_atomic(opts.out / names[i], writers[i]());
        if (!w) return w.error();
        written_aside[names[i]] = *w;
      }
      return Status::success();
    });
    auto write_results = [&]() -> Status {
      auto file = AtomicFile::create(opts.out / "results.ndjson");
      if (!file) return file.error();
      std::string text;
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (auto r = line_of(i, false, text); !r) return r;
        text += '\n';
        if (auto w = (*file)->write(text); !w) return w;
      }
      if (auto c = (*file)->commit(); !c) return c;
      written["results.ndjson"] = (*file)->fingerprint();
      return Status::success();
    };
    if (auto r = write_results(); !r) {
      main_failed = true;
      return r.error();
    }
    crash_point("mid-export");  // results.ndjson complete, the other outputs perhaps not yet
    // Without a store nothing reads the scratch file again: it goes (the kernel frees hundreds of MB of cache
    // pages for a hospital) while the other thread is still writing.
    if (!state) {
      scratch->reset();
      std::vector<Lines>().swap(lines_at);
    }
    if (auto a = aside_done.get(); !a) return a.error();
    written.merge(written_aside);
    names.insert(names.begin() + 1, "results.ndjson");
  }
  info.finished = now_utc();
  info.run_id = state ? record.id : 0;
  // The manifest goes last: its presence says the other outputs of this run are complete, and its
  // fingerprints let a reader check each of them (RELIABILITY S5).
  std::vector<report::OutputFile> listed;
  for (const auto& n : names) listed.push_back({n, written.at(n)});
  auto write_manifest = [&] {
    return write_file_atomic(
        opts.out / "manifest.json",
        report::manifest_json(*trial,
                              counts_only ? report::counts_run_info(info, opts.cells)
                                          : report::apply_privacy(info, opts.export_mode, pkey),
                              counts_only ? outcomes : shown, listed, counts_only ? &opts.cells : nullptr));
  };
  // With a state folder the manifest waits for the state commit: a folder with a manifest is a night the
  // store recorded (and whose disclosures the audit log holds), never one killed just before the commit.
  if (!state)
    if (auto w = write_manifest(); !w) return w.error();

  RunSummary s;
  s.read_seconds = read_seconds;
  s.evaluate_seconds = evaluate_seconds;
  s.output_seconds = seconds_since(t_output);
  s.changes = change_summary;
  s.full_because = full_because;
  s.patients = outcomes.size();
  for (const auto& o : outcomes) {
    if (o.tier == ranking::Tier::eligible) ++s.eligible;
    if (o.tier == ranking::Tier::possible) ++s.possible;
    if (o.tier == ranking::Tier::ineligible) ++s.ineligible;
  }
  s.data_issues = issues.size();
  s.partitions = collector.partitions();
  s.spilled_bytes = collector.spilled_bytes();
  s.complete = completeness.complete();
  s.prefilter_warning = prefilter_warning;
  s.out_made_private = out_tightened;
  s.candidates_csv = opts.out / "candidates.csv";
  if (state) {
    crash_point("before-commit");
    record.finished = info.finished;
    record.complete = s.complete;
    record.patients = static_cast<std::int64_t>(s.patients);
    record.eligible = static_cast<std::int64_t>(s.eligible);
    record.possible = static_cast<std::int64_t>(s.possible);
    record.ineligible = static_cast<std::int64_t>(s.ineligible);
    record.data_issues = static_cast<std::int64_t>(s.data_issues);
    record.disclosed = !counts_only;
    auto row = [&](std::size_t i) {
      const auto& o = outcomes[i];
      store::PatientResult r;
      r.patient = o.patient_id;
      r.tier = ranking::to_string(o.tier);
      r.rank = o.rank;
      r.score = o.score;
      r.outcomes.reserve(trial->criteria.size());
      for (std::size_t c = 0; c < trial->criteria.size(); ++c)
        r.outcomes.emplace_back(trial->criteria[c].id, criteria::to_string(ranking::outcome_at(o, c)));
      // A scratch file that cannot be read back must not leave an empty decision in the store: the exception
      // rolls the run's transaction back and ends the run with an error.
      if (auto l = line_of(i, true, r.line); !l)
        throw std::runtime_error("cannot read back a finished results line: " + l.error().what());
      return r;
    };
    store::ResourceUpdate update;
    update.source = src.describe();
    if (!s.complete) {
      // A patient read for the first time tonight whose read was incomplete is not stored: stored, they would
      // count as known, and from tomorrow only their changes since the watermark would be asked for, so what
      // failed tonight would never come. Unstored, they are read in full again.
      std::set<std::string> before;
      for (const auto& r : stored) before.insert(r.patient);
      const auto n = pulled.size();
      std::erase_if(pulled, [&](const store::StoredResource& r) {
        return !r.patient.empty() && !before.count(r.patient);
      });
      s.not_stored = n - pulled.size();
    }
    update.pulled = std::move(pulled);
    update.full = !src.delivered_changes_only() && s.complete;
    if (s.complete) update.watermark = src.watermark();
    // RELIABILITY H6, the export's record: which criteria, where to, and each output's SHA-256 (as in
    // manifest.json), so that a copy found later can be matched to the run that wrote it.
    std::string outputs;
    for (const auto& n : names) outputs += n + " sha256:" + written.at(n).sha256 + ", ";
    const store::AuditEntry entry{
        record.user, "run",
        "run " + std::to_string(record.id) + " as of " + record.as_of + " from " + record.source +
            " with trial " + trial->id + " version " + trial->version + " (" + to_string(opts.export_mode) +
            " export): " + std::to_string(s.patients) + " patients (" + std::to_string(s.eligible) +
            " eligible, " + std::to_string(s.possible) + " possible) written to " + record.out_dir + " [" +
            outputs + "manifest.json]"};
    if (auto f = state->finish_run(record, outcomes.size(), row, entry, &update, src.queries()); !f) {
      // RELIABILITY S6: the night is not recorded (the store rolled back), so its outputs must not look like
      // a finished night's either: without manifest.json the folder says it is incomplete.
      (void)remove_file(opts.out / "manifest.json");
      return Error{"the run could not be recorded in the state store (" + f.error().message +
                       "); its outputs were written but manifest.json is removed: free space and run again",
                   f.error().context};
    }
    ledger.finished = true;
    s.run_id = record.id;
    if (opts.keep_lines > 0) {
      // After the commit: tonight's results stand whether or not the old lines can be pruned.
      auto kept = state->prune_lines(opts.keep_lines, record.user);
      if (kept) {
        s.lines_kept_from = *kept;
      } else {
        s.prune_error = kept.error().what();
      }
    }
    // RELIABILITY H6: the hash chain shows an entry changed or removed in the middle, not the newest ones
    // removed. The head after tonight's entries goes where the store cannot reach it: manifest.json (written
    // again, whole or not at all) and the run's log; `audit --state DIR ANCHOR...` checks the log has it.
    auto head = state->audit_head();
    if (head && head->entry > 0) {
      info.audit_entry = head->entry;
      info.audit_hash = head->hash;
      s.audit_entry = head->entry;
      s.audit_hash = head->hash;
    } else if (!head) {
      s.anchor_error = head.error().what();
    }
    if (auto w = write_manifest(); !w)
      return Error{"the run is recorded in the state store, but manifest.json could not be written (" +
                       w.error().message + "): the output folder looks incomplete until the next run",
                   w.error().context};
  }
  return s;
}

}  // namespace

Result<RunSummary> run(const RunOptions& opts, const Prepared& prepared, source::Source& src) {
  Ledger ledger;
  auto r = run_steps(opts, prepared, src, ledger);
  if (!r && ledger.state && ledger.run_id && !ledger.finished)
    (void)ledger.state->fail_run(ledger.run_id, r.error().what());  // best effort: the error is what counts
  return r;
}

}  // namespace cf::app
