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
  std::string gender;
  std::string birth_date;
  std::string name;  // only shown in identified exports
  std::vector<criteria::CriterionResult> results;
  criteria::ScoreBounds bounds;
  int in_favour = 0, against = 0, unknown = 0, manual = 0;
  std::vector<std::string> check_next;  // "E-SLN: urine protein (24 h) and serum creatinine within 8 weeks"
  std::vector<std::string> deciding;    // criteria that made the patient ineligible
  std::vector<KeyValue> key_values;
  std::vector<LabPoint> series;
  std::string screening_status;  // coordinator feedback (screened, enrolled, declined, not-eligible), if any
  // Evidence dropped to keep memory in proportion to the candidates: the reports re-evaluate this patient to
  // write it (evaluation is deterministic, so the result is the same).
  bool evidence_stripped =
      false;  // anti_dsdna, c3, c4, creatinine, urine_protein_24h, iga, up to the as-of date
  std::optional<Days> newest_key_result;
};

// Evaluates one patient (tier, counts, check-next, score bounds, key values); rank is set by rank_all().
PatientOutcome assess(const criteria::Trial& trial, criteria::Context& ctx);

// Orders candidates: eligible, then possible, by score (desc), then patient id; ineligible get rank 0.
void rank_all(std::vector<PatientOutcome>& outcomes);

}  // namespace cf::ranking
