#pragma once
// The ranked candidates as a FHIR R4 Group (type person, actual), for loading into a FHIR server or a CTMS
// that reads cohorts. One member per eligible or possible patient, in rank order; tier, rank, score and the
// evidence resources behind the decisions travel as extensions on the member.
#include <string>
#include <vector>

#include "criteria/trial.hpp"
#include "ranking/ranking.hpp"
#include "report/outputs.hpp"
#include "report/privacy.hpp"

namespace cf::report {

// Base of this project's extension URLs ("<base>candidate-tier", ...).
inline constexpr const char* kExtensionBase = "http://cohort-finder.example.org/fhir/StructureDefinition/";

// The Group's id: stable for a trial and export mode ("cohort-nct07177911", "cohort-nct07177911-deid"), so a
// nightly PUT replaces yesterday's Group and a de-identified export never overwrites an identified one.
std::string group_id(const criteria::Trial& trial, ExportMode mode);

// `outcomes` as evaluated or as returned by apply_privacy(): the function applies apply_privacy(mode, key)
// itself, which is idempotent, so ids in the Group always match the other outputs of the same export.
std::string fhir_group_json(const criteria::Trial& trial, const RunInfo& info,
                            const std::vector<ranking::PatientOutcome>& outcomes, ExportMode mode,
                            const PrivacyKey* key);

}  // namespace cf::report
