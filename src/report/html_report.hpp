#pragma once
// The run as one self-contained HTML page (report.html): no network access, no external script, font or
// image, so it opens from a USB stick in a locked-down hospital browser. A Content-Security-Policy of
// default-src 'none' (with hashes for the one inline style and script) makes that a property the browser
// enforces, not a promise. The page stays complete with JavaScript off; the script only adds sorting, filters
// and search.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "criteria/trial.hpp"
#include "ranking/ranking.hpp"
#include "report/outputs.hpp"
#include "report/privacy.hpp"
#include "report/svg_charts.hpp"

namespace cf::report {

// The trend charts and the trial thresholds drawn on them. The compiled trial exposes no thresholds (nodes
// are opaque), so they are constants here, checked against the definition file by
// tests/report/privacy_test.cpp.
struct TrendSpec {
  const char* concept_id;
  const char* title;
  const char* op;         // "" = no threshold drawn
  double threshold;       // in `unit`
  const char* unit;       // canonical unit of the series (mappings/units.json)
  const char* criterion;  // the criterion whose threshold it is
  const char* label;      // as drawn
};
const std::vector<TrendSpec>& trend_specs();

// The attrition funnel, mirroring attrition_csv(): the deceased first, then each criterion in definition
// order.
std::vector<svg::FunnelStep> funnel_steps(const criteria::Trial& trial,
                                          const std::vector<ranking::PatientOutcome>& outcomes);

// `outcomes` must already have gone through apply_privacy(..., mode, ...). Names are shown only in identified
// mode, ineligible patients are listed (collapsed) only in identified mode, and in the pseudonymised modes a
// page that still carries names or raw ids is refused (the function returns a short page saying so).
std::string html_report(const criteria::Trial& trial, const RunInfo& info,
                        const std::vector<ranking::PatientOutcome>& outcomes, ExportMode mode);
// The same page handed to `sink` in pieces, so that it is never whole in memory.
using HtmlSink = std::function<void(std::string_view)>;
void html_report(const criteria::Trial& trial, const RunInfo& info,
                 const std::vector<ranking::PatientOutcome>& outcomes, ExportMode mode, const HtmlSink& sink);

}  // namespace cf::report
