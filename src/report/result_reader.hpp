#pragma once
// The inverse of result_line() (report/outputs.hpp): one line of results.ndjson back into the PatientOutcome
// it was written from, so that `merge` can write report.html and group.json from the shards' lines.
// result_line(read_result_line(result_line(o))) == result_line(o) byte for byte (tests/report).
//
// What the line does not carry stays empty: the reasons and evidence an ineligible patient's line has are
// read, but its key values and trend series are not in it (the reports do not show them), nor is anything
// else listed in result_line()'s comment for a pseudonymised line. ScoreBounds::eular_clinical and
// PatientOutcome::newest_key_result are never written (the score that used them is). The counts in favour,
// against, unknown and manual are recomputed from the criterion outcomes and the trial definition.
#include <string_view>

#include "core/result.hpp"
#include "criteria/trial.hpp"
#include "ranking/ranking.hpp"

namespace cf::report {

// Fails when the line is not JSON, lacks the patient, tier or criteria, or its criteria are not the trial's
// (ids in definition order).
Result<ranking::PatientOutcome> read_result_line(const criteria::Trial& trial, std::string_view line);

}  // namespace cf::report
