#include "app/run.hpp"

#include <chrono>
#include <ctime>
#include <set>

#include "core/files.hpp"
#include "criteria/trial.hpp"
#include "ranking/ranking.hpp"
#include "report/outputs.hpp"
#include "terminology/patient_record.hpp"

namespace cf::app {

namespace fs = std::filesystem;

std::string version() { return "0.1.0"; }

namespace {

std::string now_utc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
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

std::shared_ptr<const source::LineFilter> line_filter_for(const Prepared& prepared) {
  source::LineFilterConfig c;
  c.read_types = {"Patient",  "Condition", "Observation", "MedicationRequest", "MedicationStatement",
                  "MedicationAdministration", "Procedure", "Medication"};
  std::vector<std::string> codes, texts;
  c.filter_observations = prepared.terms->observation_filter_terms(codes, texts);
  c.observation_codes.insert(codes.begin(), codes.end());
  c.observation_texts = std::move(texts);
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

Result<RunSummary> run(const RunOptions& opts, const Prepared& prepared, source::Source& src) {
  const std::string started = now_utc();
  const auto& terms = prepared.terms;
  const criteria::Trial* trial = &prepared.trial;

  std::error_code ec;
  fs::create_directories(opts.out, ec);
  if (ec) return make_error("cannot create output folder: " + ec.message(), opts.out.string());
  fs::permissions(opts.out, fs::perms::owner_all, fs::perm_options::replace, ec);

  IssueLog issues;
  terminology::Collector collector(terms);
  auto st = src.read([&](source::Page&& page) {
    for (auto& r : page.resources) collector.add(std::move(r), issues);
  }, issues);
  if (!st) return st.error();
  auto records = collector.finish(issues);

  const auto& completeness = src.completeness();
  criteria::IncompleteFn incomplete = [&](const std::string& patient, const std::string& type) {
    return completeness.incomplete(patient, type);
  };
  std::vector<ranking::PatientOutcome> outcomes;
  outcomes.reserve(records.size());
  for (const auto& [id, rec] : records) {
    if (!rec.patient)
      issues.add(Severity::warning, "missing-patient", "", "Patient/" + id, "",
                 "clinical resources reference a Patient that the source did not provide");
    criteria::Context ctx{rec, *terms, opts.as_of, incomplete, trial->sledai_window, std::nullopt};
    outcomes.push_back(ranking::assess(*trial, ctx));
  }
  ranking::rank_all(outcomes);

  report::RunInfo info;
  info.tool_version = version();
  info.as_of = format_day(opts.as_of);
  info.source = src.describe();
  info.started = started;
  info.mapping_files = terms->files();
  info.read_by_type = src.stats().read_by_type;
  info.skipped_by_type = src.stats().skipped_by_type;
  info.rejected = src.stats().rejected;
  info.prefiltered = src.stats().prefiltered;
  info.files = src.stats().files;
  info.kept = collector.stats().kept;
  info.unmatched = collector.stats().unmatched;
  info.duplicates = collector.stats().duplicates;
  info.unattributed = collector.stats().unattributed;
  info.complete = completeness.complete();
  for (const auto& t : completeness.run_types) info.incomplete.push_back((t == "*" ? "all types" : t) + " (all patients)");
  for (const auto& [p, types] : completeness.patient_types)
    for (const auto& t : types) info.incomplete.push_back((t == "*" ? "all types" : t) + " (patient " + p + ")");
  info.issues_by_kind = issues.counts_by_kind();

  const std::vector<std::string> names = {"candidates.csv", "results.ndjson", "attrition.csv", "data_issues.ndjson"};
  const std::string contents[] = {report::candidates_csv(outcomes), report::results_ndjson(*trial, outcomes),
                                  report::attrition_csv(*trial, outcomes), report::issues_ndjson(issues.issues())};
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto w = write_file_atomic(opts.out / names[i], contents[i]);
    if (!w) return w.error();
  }
  info.finished = now_utc();
  // The manifest goes last: its presence says the other outputs of this run are complete.
  auto w = write_file_atomic(opts.out / "manifest.json", report::manifest_json(*trial, info, outcomes, names));
  if (!w) return w.error();

  RunSummary s;
  s.patients = outcomes.size();
  for (const auto& o : outcomes) {
    if (o.tier == ranking::Tier::eligible) ++s.eligible;
    if (o.tier == ranking::Tier::possible) ++s.possible;
    if (o.tier == ranking::Tier::ineligible) ++s.ineligible;
  }
  s.data_issues = issues.size();
  s.complete = completeness.complete();
  s.candidates_csv = opts.out / "candidates.csv";
  return s;
}

}  // namespace cf::app
