#pragma once
// What evaluation produces: a three-valued result per node and criterion, with the evidence behind it.
#include <string>
#include <vector>

#include "terminology/values.hpp"

namespace cf::criteria {

using terminology::Tri;

// One piece of data behind a decision, complete enough for an auditor to find it again.
struct Evidence {
  std::string resource;      // "Observation/obs-1"
  std::string version_id;    // meta.versionId
  std::string last_updated;  // meta.lastUpdated
  std::string location;      // where it was read: file and line, bundle entry, or page
  std::string concept_id;    // concept or drug ingredient it was matched to
  std::string coding;        // "http://loinc.org|14682-9 Creatinine" (the coding that matched)
  std::string rule;          // the mapping entry used
  bool low_confidence = false;
  std::string original;    // value and unit as written: "221 umol/L", "1:160", "Positive"
  std::string normalised;  // in the analyte's canonical unit: "2.4994 mg/dL"
  std::string conversion;  // how: "221 umol/L / 88.42 = 2.4994 mg/dL"
  std::string date;        // the clinical date as written (effective, onset, performed, authoredOn)
  std::string note;        // what this piece showed: "> 2.5 mg/dL: no", "latest in the window"
};

struct NodeResult {
  Tri value = Tri::unknown;
  bool data_gap = false;  // unknown because data are missing or doubtful (false: only manual review is left)
  std::string reason;     // one line
  std::vector<Evidence> evidence;

  static NodeResult met(std::string why, std::vector<Evidence> ev = {}) {
    return {Tri::met, false, std::move(why), std::move(ev)};
  }
  static NodeResult not_met(std::string why, std::vector<Evidence> ev = {}) {
    return {Tri::not_met, false, std::move(why), std::move(ev)};
  }
  static NodeResult unknown(std::string why, std::vector<Evidence> ev = {}) {
    return {Tri::unknown, true, std::move(why), std::move(ev)};
  }
  static NodeResult manual(std::string why) { return {Tri::unknown, false, std::move(why), {}}; }
};

enum class Outcome { met, not_met, unknown, manual };
const char* to_string(Outcome o);

struct CriterionResult {
  std::string id;
  Outcome outcome = Outcome::unknown;
  std::string reason;
  std::vector<Evidence> evidence;
};

}  // namespace cf::criteria
