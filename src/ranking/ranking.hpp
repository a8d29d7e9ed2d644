#pragma once
// Pure functions from criterion results to tiers, scores, ranks and "check next" lists.
#include <optional>
#include <string>
#include <vector>

#include "criteria/trial.hpp"

namespace cf::ranking {

enum class Tier { eligible, possible, ineligible };
const char* to_string(Tier t);

// The latest usable value of a key analyte, for the candidate list.
struct KeyValue {
  std::string concept_id;
  std::string value;  // as written, with unit
  std::string date;
  std::string resource;
};

// One lab result in the analyte's canonical unit, for trend charts (display only: decisions use exact
// decimals).
struct LabPoint {
  std::string concept_id;
  Days day = 0;
  double value = 0;
  std::string comparator;  // "<", ">" ... as reported
  std::string unit;        // canonical unit
  std::string resource;    // "Observation/id"
};

struct PatientOutcome {
  std::string patient_id;
  Tier tier = Tier::possible;
  double score = 0;
  int rank = 0;  // 1-based among eligible+possible; 0 for ineligible
  bool deceased = false;
  std::vector<criteria::Evidence> deceased_evidence;  // the Patient resource that says so, when deceased
  std::string gender;
  std::string birth_date;
  std::string name;  // only shown in identified exports
  bool pseudonymised =
      false;  // ids replaced by report::apply_privacy (not: an id that merely looks like one)
  std::vector<criteria::CriterionResult> results;
  criteria::ScoreBounds bounds;
  int in_favour = 0, against = 0, unknown = 0, manual = 0;
  std::vector<std::string> check_next;  // "E-SLN: urine protein (24 h) and serum creatinine within 8 weeks"
  std::vector<std::string> deciding;    // criteria that made the patient ineligible
  std::vector<KeyValue> key_values;
  std::vector<LabPoint> series;
  std::string screening_status;  // coordinator feedback (screened, enrolled, declined, not-eligible), if any
  // Most patients of a hospital are ineligible: once their results line is written, the run drops their
  // criterion results (reasons, evidence) and keeps only each criterion's outcome in `decided`, so that
  // memory grows with the candidates, not the hospital. Read outcomes through outcome_at().
  bool evidence_stripped = false;
  std::vector<criteria::Outcome> decided;
  // anti_dsdna, c3, c4, creatinine, urine_protein_24h, iga, up to the as-of date
  std::optional<Days> newest_key_result;
};

// Criterion i's outcome, whether or not the results were dropped.
inline criteria::Outcome outcome_at(const PatientOutcome& o, std::size_t i) {
  return o.evidence_stripped ? o.decided.at(i) : o.results.at(i).outcome;
}
inline std::size_t criteria_count(const PatientOutcome& o) {
  return o.evidence_stripped ? o.decided.size() : o.results.size();
}

// Drops what a written results line holds beyond the per-criterion outcomes (see evidence_stripped).
void strip_evidence(PatientOutcome& o);

// Evaluates one patient (tier, counts, check-next, score bounds, key values); rank is set by rank_all().
PatientOutcome assess(const criteria::Trial& trial, criteria::Context& ctx);

// Orders candidates: eligible, then possible, by score (desc), then patient id; ineligible get rank 0.
// Returns where each outcome was before: position i holds what was at the returned [i].
std::vector<std::size_t> rank_all(std::vector<PatientOutcome>& outcomes);

}  // namespace cf::ranking
