#pragma once
// The counts-only export (RELIABILITY H8, "feasibility output"): most who ask a cohort finder want to know
// how many patients might qualify, not who they are. Only aggregates leave the run, and each count of
// patients goes through a small-cell rule first: 0 as it is, 1 to min_count - 1 as "<min_count", larger ones
// rounded to a multiple of round_to. Rounding keeps a small count from being worked out as the difference of
// two published ones (the funnel's "remaining" before and after a criterion). Which threshold and rounding a
// release needs is the privacy office's decision; the defaults (11, 5) follow the common "no cell under 11"
// rule. Whoever changes them should record why.
#include <cstddef>
#include <string>

#include "report/outputs.hpp"

namespace cf::report {

struct CellPolicy {
  std::size_t min_count = 11;  // counts 1 .. min_count - 1 are suppressed
  std::size_t round_to = 5;    // larger counts are rounded to the nearest multiple (halves up)
};

// "0", "<11", or the rounded count.
std::string publish_count(std::size_t n, const CellPolicy& p);

// The run metadata a counts-only manifest may show: "Condition (patient X)" entries of `incomplete` become
// one "Condition (N patients)" per type, N published by the policy.
RunInfo counts_run_info(RunInfo info, const CellPolicy& p);

}  // namespace cf::report
