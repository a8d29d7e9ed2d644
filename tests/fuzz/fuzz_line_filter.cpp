// libFuzzer target: the line prefilter may skip only what parsing would drop. For any line the filter calls
// irrelevant that parses into a resource the tool reads, no concept of a kind its type carries matches its
// code, and a drug use is neither matched, nor given by reference, nor unidentified (its codes name another
// drug). Also json::raw_top_level_member against the parser on every input that is a JSON object.
#include <cstdlib>
#include <string>
#include <string_view>

#include "app/run.hpp"
#include "fhir/extract.hpp"
#include "json/json.hpp"
#include "json/raw_member.hpp"
#include "source/line_filter.hpp"
#include "terminology/terminology.hpp"

namespace {

struct Setup {
  std::shared_ptr<const cf::source::LineFilter> filter;
  std::shared_ptr<const cf::terminology::Terminology> terms;  // the same mappings, loaded again
};

const Setup& setup() {
  static const Setup s = [] {
    cf::app::RunOptions o;
    o.mappings = COHORT_SOURCE_DIR "/mappings";
    o.trial = o.mappings / "trials" / "nct07177911.json";
    auto p = cf::app::prepare(o);
    auto t = cf::terminology::Terminology::load(o.mappings);
    if (!p || !t) std::abort();
    return Setup{cf::app::line_filter_for(**p), *t};
  }();
  return s;
}

void check_raw_members(std::string_view text, const cf::json::Document& doc) {
  if (!doc.IsObject()) return;
  for (const char* key : {"medicationCodeableConcept", "subject", "code", "a", "resourceType"}) {
    std::string_view value;
    const auto found = cf::json::raw_top_level_member(text, key, value);
    const cf::json::Value* want = cf::json::member(doc, key);
    if (found == cf::json::RawMember::ambiguous) continue;  // allowed (an escaped top-level key)
    if ((found == cf::json::RawMember::once) != (want != nullptr)) std::abort();
    if (!want) continue;
    cf::json::Document part;
    cf::json::ParseError err;
    if (!cf::json::parse(value, part, err) || cf::json::serialize(part) != cf::json::serialize(*want))
      std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  const std::string line(reinterpret_cast<const char*>(data), size);
  cf::json::Document doc;
  cf::json::ParseError err;
  const bool parsed = cf::json::parse(line, doc, err);
  if (parsed) check_raw_members(line, doc);
  if (line.find('\n') != std::string::npos) return 0;  // not one NDJSON line
  const Setup& s = setup();
  std::string_view type;
  if (s.filter->check(line, type) != cf::source::LineFilter::Verdict::irrelevant || !parsed) return 0;
  cf::IssueLog issues;
  auto ex = cf::fhir::extract_resource(doc, cf::fhir::Origin{"fuzz"}, issues);
  if (!ex.resource) return 0;
  const auto& terms = *s.terms;
  const cf::fhir::Resource& r = *ex.resource;
  if (const auto* code = cf::fhir::code_of(r))
    for (const auto& m : terms.match(*code))
      if (cf::terminology::kind_fits(m.con->kind, cf::fhir::header(r).type)) std::abort();
  if (const auto* mu = std::get_if<cf::fhir::MedicationUse>(&r)) {
    if (terms.match_medication(mu->medication) || !mu->medication_reference.empty()) std::abort();
    // Skipped only for a plain local subject (one on another server marks the patient's drugs incomplete).
    if (!terms.names_other_drug(mu->medication) || mu->h.subject.find("://") != std::string::npos)
      std::abort();
  }
  return 0;
}
