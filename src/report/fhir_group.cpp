#include "report/fhir_group.hpp"

#include <cstdio>
#include <set>

#include "core/date.hpp"
#include "fhir/extract.hpp"
#include "json/json.hpp"
#include "report/svg_charts.hpp"

namespace cf::report {

namespace {

// "Observation/obs-1" (+ version) as a literal R4 reference, or "" when it is not one.
std::string literal_reference(const std::string& resource, const std::string& version) {
  const auto slash = resource.find('/');
  if (slash == std::string::npos || slash == 0) return {};
  const std::string type = resource.substr(0, slash), id = resource.substr(slash + 1);
  if (type[0] < 'A' || type[0] > 'Z') return {};
  for (char c : type)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return {};
  if (!fhir::valid_id(id)) return {};
  return type + "/" + id + (fhir::valid_id(version) ? "/_history/" + version : "");
}

void extension(json::Writer& w, const char* name) {
  w.begin_object().key("url").str(std::string(kExtensionBase) + name);
}

void member(json::Writer& w, const ranking::PatientOutcome& o, bool with_score) {
  w.begin_object();
  w.key("extension").begin_array();
  extension(w, "candidate-tier");
  w.key("valueCode").str(ranking::to_string(o.tier)).end_object();
  extension(w, "candidate-rank");
  w.key("valuePositiveInt").integer(o.rank).end_object();
  if (with_score) {  // withheld from de-identified exports, see apply_privacy()
    extension(w, "candidate-score");
    w.key("valueDecimal").raw_number(format_score(o.score)).end_object();
  }
  std::set<std::string> seen;
  auto add = [&](const criteria::Evidence& e) {
    if (e.resource.rfind("Patient/", 0) == 0) return;  // the member's entity already
    const std::string ref = literal_reference(e.resource, e.version_id);
    if (ref.empty() || !seen.insert(ref).second) return;
    extension(w, "candidate-evidence");
    w.key("valueReference").begin_object().key("reference").str(ref).end_object().end_object();
  };
  for (const auto& r : o.results)
    for (const auto& e : r.evidence) add(e);
  for (const auto& e : o.bounds.evidence) add(e);
  w.end_array();
  w.key("entity").begin_object().key("reference").str("Patient/" + o.patient_id).end_object();
  w.end_object();
}

}  // namespace

std::string group_id(const criteria::Trial& trial, ExportMode mode) {
  std::string id = "cohort-";
  for (char c : trial.id) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    id += ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.') ? c : '-';
  }
  const std::string suffix = mode == ExportMode::identified    ? ""
                             : mode == ExportMode::limited     ? "-limited"
                             : mode == ExportMode::safe_harbor ? "-sh"
                                                               : "-deid";
  if (id.size() + suffix.size() > 64) id.resize(64 - suffix.size());
  return id + suffix;
}

std::string fhir_group_json(const criteria::Trial& trial, const RunInfo& info,
                            const std::vector<ranking::PatientOutcome>& outcomes, ExportMode mode,
                            const PrivacyKey* key) {
  // Only candidates are members: the ineligible (most of a hospital) are not copied.
  std::vector<ranking::PatientOutcome> candidates;
  for (const auto& o : outcomes)
    if (o.tier != ranking::Tier::ineligible) candidates.push_back(o);
  const auto members = apply_privacy(std::move(candidates), mode, key, &trial);
  std::size_t n = 0;
  for (const auto& o : members)
    if (o.tier != ranking::Tier::ineligible && fhir::valid_id(o.patient_id) && o.rank > 0) ++n;
  const std::string name =
      trial.id + " candidates (eligible or possible)" + (info.as_of.empty() ? "" : " as of " + info.as_of);
  json::Writer w;
  w.begin_object();
  w.key("resourceType").str("Group");
  w.key("id").str(group_id(trial, mode));
  w.key("meta").begin_object().key("tag").begin_array().begin_object();
  w.key("system").str("http://cohort-finder.example.org/fhir/CodeSystem/export-mode");
  w.key("code").str(to_string(mode)).end_object().end_array().end_object();
  w.key("text").begin_object().key("status").str("generated");
  w.key("div").str("<div xmlns=\"http://www.w3.org/1999/xhtml\">" + escape_html(name) + ": " +
                   std::to_string(n) + " patients, in rank order.</div>");
  w.end_object();
  w.key("extension").begin_array();
  extension(w, "trial");
  w.key("valueIdentifier")
      .begin_object()
      .key("system")
      .str("https://clinicaltrials.gov")
      .key("value")
      .str(trial.id);
  w.end_object().end_object();
  if (!trial.version.empty()) {
    extension(w, "trial-definition-version");
    w.key("valueString").str(trial.version).end_object();
  }
  if (parse_iso_day(info.as_of)) {
    extension(w, "as-of");
    w.key("valueDate").str(info.as_of).end_object();
  }
  w.end_array();
  w.key("active").boolean(true);
  w.key("type").str("person");
  w.key("actual").boolean(true);
  w.key("name").str(name);
  w.key("quantity").integer(static_cast<long long>(n));
  if (n > 0) {
    w.key("member").begin_array();
    for (const auto& o : members)
      if (o.tier != ranking::Tier::ineligible && fhir::valid_id(o.patient_id) && o.rank > 0)
        member(w, o, !pseudonymised(mode));
    w.end_array();
  }
  w.end_object();
  return std::string(w.view()) + "\n";
}

}  // namespace cf::report
