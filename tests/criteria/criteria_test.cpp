#define BOOST_TEST_MODULE criteria
#include <boost/test/unit_test.hpp>

#include "criteria/medication.hpp"
#include "support/scenario.hpp"

using namespace cf;
using test::condition;
using test::lab;
using test::outcome_of;
using test::patient;

namespace {
const std::string kSle = R"("http://snomed.info/sct")";
Result<criteria::Trial> trial_from(const std::string& criteria_json) {
  return criteria::Trial::parse(
      R"({"format":"cohort-finder/trial@1","id":"T","version":"1","criteria":[)" + criteria_json + "]}",
      "test.json", *test::terms());
}
// One patient per ICD-10 code, each with that diagnosis since 2020: `criterion` has the outcome paired with
// it.
void check_icd10_outcomes(const std::string& criterion,
                          const std::vector<std::pair<std::string, std::string>>& cases) {
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string pid = "p" + std::to_string(i);
    lines.push_back(test::patient(pid));
    lines.push_back(test::condition("c" + std::to_string(i), pid, "http://hl7.org/fhir/sid/icd-10",
                                    cases[i].first, "2020-01-01"));
  }
  auto r = test::evaluate(lines, "2026-11-26");
  for (std::size_t i = 0; i < cases.size(); ++i)
    BOOST_TEST(test::outcome_of(r["p" + std::to_string(i)], criterion) == cases[i].second, cases[i].first);
}
}  // namespace

BOOST_AUTO_TEST_CASE(definition_errors_name_criterion_and_field) {
  auto t = trial_from(
      R"({"id":"X1","kind":"inclusion","label":"x","expr":{"observation":{"concept":"nope","test":"positive"}}})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(t.error().what().find("criteria[0] (X1).expr.observation.concept") != std::string::npos);
  BOOST_TEST(t.error().what().find("unknown concept 'nope'") != std::string::npos);
  t = trial_from(
      R"({"id":"X2","kind":"inclusion","label":"x","expr":{"observation":{"concept":"creatinine","test":{"op":">","value":"2","unit":"furlong"}}}})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(t.error().what().find("not a unit of analyte 'creatinine'") != std::string::npos);
  t = trial_from(R"({"id":"X3","kind":"maybe","label":"x","manual":"m"})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(t.error().what().find("kind") != std::string::npos);
  t = trial_from(
      R"({"id":"X4","kind":"inclusion","label":"x","expr":{"age":{"min":18,"max":65}},"manual":"m"})");
  BOOST_TEST(!t);
  t = trial_from(
      R"({"id":"X5","kind":"inclusion","label":"x","expr":{"condition":{"concept":"sle","window":{"fortnights":2}}}})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(t.error().what().find("window") != std::string::npos);
  BOOST_TEST(test::nct().criteria.size() == 22u);
}

// A misspelt member is an error naming its path, not a default silently taken ("windw" would be "ever").
BOOST_AUTO_TEST_CASE(unknown_members_are_errors_with_their_path) {
  auto t = trial_from(
      R"({"id":"U1","kind":"inclusion","label":"x","expr":{"condition":{"concept":"sle","windw":{"days":30}}}})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(t.error().what().find("criteria[0] (U1).expr.condition.windw") != std::string::npos,
             t.error().what());
  BOOST_TEST(t.error().what().find("unknown member 'windw'") != std::string::npos, t.error().what());
  t = trial_from(
      R"({"id":"U2","kind":"inclusion","label":"x","expr":{"observation":{"concept":"creatinine","test":{"op":">","value":"2","units":"mg/dL"}}}})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(t.error().what().find(".test.units") != std::string::npos, t.error().what());
  t = trial_from(R"({"id":"U3","kind":"inclusion","label":"x","manual":"m","check_nxt":"y"})");
  BOOST_REQUIRE(!t);
  BOOST_TEST(t.error().what().find("criteria[0] (U3).check_nxt") != std::string::npos, t.error().what());
  auto top = criteria::Trial::parse(
      R"({"format":"cohort-finder/trial@1","id":"T","version":"1","ranking":{"recency":{"halflife_days":90}},)"
      R"("criteria":[{"id":"A","kind":"inclusion","label":"x","manual":"m"}]})",
      "test.json", *test::terms());
  BOOST_REQUIRE(!top);
  BOOST_TEST(top.error().what().find("ranking.recency.halflife_days") != std::string::npos,
             top.error().what());
  // Every member the shipped definition uses is known.
  BOOST_TEST(test::nct().criteria.size() == 22u);
}

BOOST_AUTO_TEST_CASE(age_boundaries_on_the_as_of_date) {
  auto r = test::evaluate({patient("a", "2008-11-26"), patient("b", "2008-11-27"), patient("c", "1960-11-26"),
                           patient("d", "1960-11-27"), patient("e", "2008")},
                          "2026-11-26");
  BOOST_TEST(outcome_of(r["a"], "I2") == "met");      // 18 today
  BOOST_TEST(outcome_of(r["b"], "I2") == "not_met");  // 18 tomorrow
  BOOST_TEST(outcome_of(r["c"], "I2") == "not_met");  // 66 today
  BOOST_TEST(outcome_of(r["d"], "I2") == "met");      // 65 until tomorrow
  BOOST_TEST(outcome_of(r["e"], "I2") == "unknown");  // 17 or 18
}

BOOST_AUTO_TEST_CASE(creatinine_window_units_and_three_values) {
  auto r = test::evaluate(
      {patient("in"), lab("o1", "in", "14682-9", "222", "umol/L", "2026-10-01"), patient("edge"),
       lab("o2", "edge", "14682-9", "221", "umol/L", "2026-10-01"), patient("old"),
       lab("o3", "old", "2160-0", "3.1", "mg/dL", "2026-09-30"),  // 57 days: outside 8 weeks
       patient("day56"), lab("o4", "day56", "2160-0", "3.1", "mg/dL", "2026-10-01"), patient("odd"),
       lab("o5", "odd", "2160-0", "3.1", "mg%", "2026-11-01"), patient("future"),
       lab("o6", "future", "2160-0", "3.1", "mg/dL", "2026-11-27"), patient("near"),
       lab("o7", "near", "14682-9", "221.052", "umol/L", "2026-10-01")},
      "2026-11-26");
  auto sln_creat = [&](const std::string& p) {
    for (const auto& c : r[p].results)
      if (c.id == "E-SLN") return c;
    return criteria::CriterionResult{};
  };
  BOOST_TEST(outcome_of(r["in"], "E-SLN") == "met");
  BOOST_TEST(outcome_of(r["day56"], "E-SLN") == "met");
  // Without urine protein these stay unknown: missing data is never "no".
  BOOST_TEST(outcome_of(r["edge"], "E-SLN") == "unknown");
  BOOST_TEST(outcome_of(r["old"], "E-SLN") == "unknown");
  BOOST_TEST(outcome_of(r["future"], "E-SLN") == "unknown");
  BOOST_TEST(outcome_of(r["odd"], "E-SLN") == "unknown");
  BOOST_TEST(sln_creat("odd").reason.find("cannot be converted") != std::string::npos);
  BOOST_TEST(sln_creat("in").evidence.at(0).resource == "Observation/o1");
  BOOST_TEST(sln_creat("in").evidence.at(0).conversion == "222 umol/L / 88.42 = 2.5107 mg/dL");
  // 221.052 umol/L is 2.500023 mg/dL: above 2.5, and shown with the decimals that say so (rounded to 4 it
  // read "2.5 mg/dL" beside "> 2.5: met").
  BOOST_TEST(outcome_of(r["near"], "E-SLN") == "met");
  BOOST_TEST(sln_creat("near").evidence.at(0).normalised == "2.50002262 mg/dL");
  BOOST_TEST(sln_creat("near").evidence.at(0).conversion == "221.052 umol/L / 88.42 = 2.50002262 mg/dL");
  BOOST_TEST(sln_creat("in").evidence.at(0).normalised == "2.5107 mg/dL");  // away from the threshold: 4
}

BOOST_AUTO_TEST_CASE(statuses_are_honoured) {
  const std::string sle = "http://snomed.info/sct";
  auto r = test::evaluate(
      {patient("ok"), condition("c1", "ok", sle, "55464009", "2020-01-01"), patient("refuted"),
       condition("c2", "refuted", sle, "55464009", "2020-01-01",
                 R"(,"verificationStatus":{"coding":[{"code":"refuted"}]})"),
       patient("eie"),
       condition("c3", "eie", sle, "55464009", "2020-01-01",
                 R"(,"verificationStatus":{"coding":[{"code":"entered-in-error"}]})"),
       patient("modext"),
       condition("c4", "modext", sle, "55464009", "2020-01-01",
                 R"(,"modifierExtension":[{"url":"http://x/y"}])"),
       patient("generic"), condition("c5", "generic", sle, "200936003", "2020-01-01"), patient("druglupus"),
       condition("c6", "druglupus", "http://hl7.org/fhir/sid/icd-10-cm", "M32.0", "2020-01-01"),
       patient("dead", "1990-01-01\",\"deceasedBoolean\":true,\"x\":\"")},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["ok"], "I3") == "met");
  BOOST_TEST(outcome_of(r["refuted"], "I3") == "not_met");
  BOOST_TEST(outcome_of(r["eie"], "I3") == "not_met");
  // A modifierExtension this tool does not understand may change the meaning: the condition decides nothing,
  // but it is not absent either (RELIABILITY D4; it was "not_met", a "no" for what is unknown).
  BOOST_TEST(outcome_of(r["modext"], "I3") == "unknown");
  BOOST_TEST(outcome_of(r["generic"], "I3") == "unknown");
  BOOST_TEST(outcome_of(r["druglupus"], "I3") == "not_met");
  BOOST_TEST(r["dead"].deceased);
  BOOST_TEST(ranking::to_string(r["dead"].tier) == std::string("ineligible"));
}

BOOST_AUTO_TEST_CASE(entered_in_error_lab_is_ignored_and_latest_wins) {
  auto r = test::evaluate(
      {patient("p"), lab("a", "p", "2458-8", "0.05", "g/L", "2026-01-01"),
       lab("b", "p", "2458-8", "150", "mg/dL", "2026-06-01"),
       R"({"resourceType":"Observation","id":"c","status":"entered-in-error","subject":{"reference":"Patient/p"},"code":{"coding":[{"system":"http://loinc.org","code":"2458-8"}]},"effectiveDateTime":"2026-07-01","valueQuantity":{"value":5,"unit":"mg/dL"}})"},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "E-IGA") == "not_met");
  auto r2 =
      test::evaluate({patient("q"), lab("a", "q", "2458-8", "0.09", "g/L", "2026-06-01")}, "2026-11-26");
  BOOST_TEST(outcome_of(r2["q"], "E-IGA") == "met");  // 9 mg/dL < 10
  auto r3 = test::evaluate({patient("n")}, "2026-11-26");
  BOOST_TEST(outcome_of(r3["n"], "E-IGA") == "unknown");  // no IgA: unknown, never "no"
}

BOOST_AUTO_TEST_CASE(kleene_logic_and_tiers) {
  auto t = trial_from(
      R"({"id":"A","kind":"inclusion","label":"a","expr":{"any":[{"manual":"m"},{"age":{"min":18,"max":65}}]}},)"
      R"({"id":"B","kind":"inclusion","label":"b","expr":{"all":[{"manual":"m"},{"age":{"min":18,"max":65}}]}},)"
      R"({"id":"C","kind":"exclusion","label":"c","expr":{"not":{"age":{"min":0,"max":200}}}},)"
      R"({"id":"D","kind":"inclusion","label":"d","expr":{"at_least":{"n":2,"of":[{"age":{"min":18,"max":65}},{"manual":"x"},{"age":{"min":0,"max":200}}]}}})");
  BOOST_REQUIRE_MESSAGE(t, (t ? "" : t.error().what()));
  auto r = test::evaluate({patient("young", "2015-01-01"), patient("adult"), patient("nobirth\",\"x\":\"")},
                          "2026-11-26", *t);
  BOOST_TEST(outcome_of(r["adult"], "A") == "met");
  BOOST_TEST(outcome_of(r["adult"], "B") == "manual");
  BOOST_TEST(outcome_of(r["young"], "A") == "manual");
  BOOST_TEST(outcome_of(r["young"], "B") == "not_met");
  BOOST_TEST(outcome_of(r["adult"], "C") == "not_met");
  BOOST_TEST(outcome_of(r["adult"], "D") == "met");
  BOOST_TEST(outcome_of(r["young"], "D") == "manual");
  BOOST_TEST(ranking::to_string(r["adult"].tier) == std::string("eligible"));
  BOOST_TEST(ranking::to_string(r["young"].tier) == std::string("ineligible"));
}

// A dosage's boundsDuration ends the use: whole days counted from the start day, in any UCUM unit of time;
// values no date can hold (a hostile 1e30 days) are capped instead of overflowing.
BOOST_AUTO_TEST_CASE(bounds_duration_ends_the_use) {
  auto dec = [](const char* s) { return *Decimal::parse(s); };
  const Days start = *parse_iso_day("2026-01-01"), as_of = *parse_iso_day("2026-11-26");
  struct Case {
    const char* value;
    const char* unit;
    std::optional<Days> end;  // days after the start; nullopt: the duration is not read
  } cases[] = {
      {"10", "d", 9},
      {"2", "wk", 13},
      {"36", "h", 1},
      {"12", "h", 0},
      {"0", "d", 0},
      {"3", "mo", 91},
      {"1", "a", 365},
      {"90", "min", 0},
      {"1e30", "d", 73049},
      {"1e30", "a", 73049},
      {"-5", "d", std::nullopt},
      {"5", "mg", std::nullopt},
  };
  for (const auto& c : cases) {
    fhir::MedicationUse use;
    use.h.type = fhir::ResourceType::medication_request;
    use.status = "completed";
    use.intent = "order";
    fhir::Dosage d;
    d.timing.bounds_start = PartialDate{start, start};
    d.timing.bounds_duration =
        fhir::Quantity{dec(c.value), c.value, "", c.unit, "http://unitsofmeasure.org", c.unit};
    use.dosages.push_back(d);
    const auto span = criteria::span_of(use, as_of);
    const std::string label = std::string(c.value) + " " + c.unit;
    BOOST_TEST_REQUIRE(span.counts, label << ": " << span.why);
    BOOST_TEST((span.start == start), label);
    // Without a read duration a completed use with no end is known for its start day only.
    BOOST_TEST((span.end == start + c.end.value_or(0)),
               label << ": end " << (span.end ? *span.end - start : -1));
  }
}

// Daily doses are exact decimals: a frequency that does not divide evenly is rounded half to even to
// kDoseDigits decimals, the same on every machine; unit and strength conversions are exact.
// Prednisone equivalents at the trial's limits: dexamethasone 6 mg/day is exactly 40 mg/day (I6c: <= 40, met)
// and betamethasone 0.9 mg/day exactly 7.5 (I6d: >= 7.5 when the glucocorticoid is the only therapy, met);
// with the tables' pairs rounded to factors (6.6667, 8.3333) both patients were excluded.
BOOST_AUTO_TEST_CASE(glucocorticoid_equivalents_are_exact_at_the_limits) {
  auto order = [](const std::string& id, const std::string& pid, const std::string& atc,
                  const std::string& mg) {
    return R"({"resourceType":"MedicationRequest","id":")" + id +
           R"(","status":"active","intent":"order",)"
           R"("medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":")" +
           atc + R"("}]},"subject":{"reference":"Patient/)" + pid +
           R"("},"authoredOn":"2026-11-01","dosageInstruction":[{"timing":{"repeat":{"boundsPeriod":)"
           R"({"start":"2026-11-01"},"frequency":1,"period":1,"periodUnit":"d"}},"route":{"coding":[)"
           R"({"system":"http://snomed.info/sct","code":"26643006"}]},"doseAndRate":[{"doseQuantity":)"
           R"({"value":)" +
           mg + R"(,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}]}]})";
  };
  auto r = test::evaluate(
      {patient("dex40"), order("m1", "dex40", "H02AB02", "6"), patient("dex41"),
       order("m2", "dex41", "H02AB02", "6.2"), patient("beta75"), order("m3", "beta75", "H02AB01", "0.9"),
       patient("beta74"), order("m4", "beta74", "H02AB01", "0.89"), patient("mixed"),
       order("m5", "mixed", "H02AB07", "5"), order("m6", "mixed", "H02AB02", "0.375")},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["dex40"], "I6c") == "met");
  BOOST_TEST(outcome_of(r["dex41"], "I6c") == "not_met");  // 41.33 mg/day
  BOOST_TEST(outcome_of(r["beta75"], "I6d") == "met");
  BOOST_TEST(outcome_of(r["beta74"], "I6d") == "not_met");  // 7.42 mg/day
  BOOST_TEST(outcome_of(r["mixed"], "I6d") == "met");       // 5 + 2.5 mg/day
  for (const auto& res : r["dex40"].results)
    if (res.id == "I6c")
      BOOST_TEST(res.reason.find("40 mg/day prednisone-eq") != std::string::npos, res.reason);
}

// A diagnosis recorded as a possibility decides nothing alone: a differential diagnosis of cancer does not
// exclude (A-MAL unknown, not met), a provisional SLE diagnosis does not include (I3's diagnosis branch
// unknown); confirmed ones and ones without a verificationStatus still decide.
BOOST_AUTO_TEST_CASE(tentative_diagnoses_need_a_human) {
  const std::string icd = "http://hl7.org/fhir/sid/icd-10";
  auto status = [](const std::string& s) {
    return R"(,"verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/)"
           R"(condition-ver-status","code":")" +
           s + R"("}]})";
  };
  auto r = test::evaluate(
      {patient("diff"), condition("c1", "diff", icd, "C50.9", "2026-06-01", status("differential")),
       patient("conf"), condition("c2", "conf", icd, "C50.9", "2026-06-01", status("confirmed")),
       patient("none"), condition("c3", "none", icd, "C50.9", "2026-06-01"), patient("prov"),
       condition("c4", "prov", "http://snomed.info/sct", "55464009", "2020-01-01", status("provisional")),
       patient("sle"), condition("c5", "sle", "http://snomed.info/sct", "55464009", "2020-01-01")},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["diff"], "A-MAL") == "unknown");
  BOOST_TEST(outcome_of(r["conf"], "A-MAL") == "met");
  BOOST_TEST(outcome_of(r["none"], "A-MAL") == "met");
  BOOST_TEST(outcome_of(r["prov"], "I3") == "unknown");
  BOOST_TEST(outcome_of(r["sle"], "I3") == "met");
}

// E-AI asks a human about every other autoimmune diagnosis CRITERIA.md T05 names: MCTD and overlap (M35.1),
// any vasculitis (M31), any psoriasis (L40); Sjogren's (M35.0) alone is no reason to ask.
BOOST_AUTO_TEST_CASE(other_autoimmune_diagnoses_go_to_review) {
  const std::vector<std::pair<std::string, std::string>> cases = {{"M35.1", "unknown"},  {"M31.7", "unknown"},
                                                                  {"L40.0", "unknown"},  {"M31.3", "unknown"},
                                                                  {"M35.00", "not_met"}, {"J45", "not_met"}};
  check_icd10_outcomes("E-AI", cases);
}

// I6d asks for >= 7.5 mg/day only when the glucocorticoid is the only therapy. An infusion counts for its day
// only, so a patient on prednisone 5 mg/day with rituximab two months ago looked like a glucocorticoid-only
// patient below the limit and was excluded; a therapy given in the last 6 months now leaves it to a human.
BOOST_AUTO_TEST_CASE(recent_infusions_leave_glucocorticoid_only_to_review) {
  const std::string pred =
      R"({"resourceType":"MedicationRequest","id":"MID","status":"active","intent":"order",)"
      R"("medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc",)"
      R"("code":"H02AB07"}]},"subject":{"reference":"Patient/PID"},"authoredOn":"2026-10-01",)"
      R"("dosageInstruction":[{"timing":{"repeat":{"frequency":1,"period":1,"periodUnit":"d"}},)"
      R"("doseAndRate":[{"doseQuantity":{"value":5,"unit":"mg","system":)"
      R"("http://unitsofmeasure.org","code":"mg"}}]}]})";
  auto fill = [](std::string s, const std::string& id, const std::string& pid) {
    s.replace(s.find("MID"), 3, id);
    s.replace(s.find("PID"), 3, pid);
    return s;
  };
  auto infusion = [](const std::string& id, const std::string& pid, const std::string& date) {
    return R"({"resourceType":"MedicationAdministration","id":")" + id +
           R"(","status":"completed","medicationCodeableConcept":{"coding":[{"system":)"
           R"("http://www.whocc.no/atc","code":"L01FA01"}]},"subject":{"reference":"Patient/)" +
           pid + R"("},"effectiveDateTime":")" + date + R"("})";
  };
  auto r =
      test::evaluate({patient("alone"), fill(pred, "m1", "alone"), patient("recent"),
                      fill(pred, "m2", "recent"), infusion("a2", "recent", "2026-09-20"), patient("long-ago"),
                      fill(pred, "m3", "long-ago"), infusion("a3", "long-ago", "2026-03-01")},
                     "2026-11-26");
  BOOST_TEST(outcome_of(r["alone"], "I6d") == "not_met");
  BOOST_TEST(outcome_of(r["recent"], "I6d") == "unknown");
  BOOST_TEST(outcome_of(r["long-ago"], "I6d") == "not_met");
}

// E-TX excludes solid-organ and haematopoietic stem-cell transplants only (CRITERIA.md T03): a corneal, skin
// or bone graft, or a transplant of unspecified tissue, is no reason to lose a candidate.
BOOST_AUTO_TEST_CASE(transplant_exclusion_is_solid_organ_or_stem_cells) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Z94.0", "met"},      {"Z940", "met"},       {"Z94.4", "met"},     {"Z94.8", "met"},
      {"Z94.84", "met"},     {"T86.11", "met"},     {"T86.0", "met"},     {"T86.81", "met"},
      {"Z94.5", "not_met"},  {"Z94.7", "not_met"},  {"Z94.9", "not_met"}, {"Z94.89", "not_met"},
      {"T86.84", "not_met"}, {"T86.82", "not_met"}, {"T86.8", "not_met"}, {"T86.9", "not_met"}};
  check_icd10_outcomes("E-TX", cases);
}

BOOST_AUTO_TEST_CASE(daily_doses_are_exact_decimals) {
  auto dec = [](const char* s) { return *Decimal::parse(s); };
  struct Case {
    const char* amount;
    const char* unit;
    const char* frequency;  // "" for a timing code
    const char* period;
    const char* period_unit;
    const char* code;
    const char* strength;  // "" without a product strength
    const char* want;      // mg/day, exactly ("" when it cannot be computed)
  } cases[] = {
      {"10", "mg", "1", "3", "d", "", "", "3.333333333333"},
      {"20", "mg", "1", "3", "d", "", "", "6.666666666667"},  // rounded at the 12th decimal
      {"22.5", "mg", "1", "3", "d", "", "", "7.5"},
      {"2.5", "mg", "1", "8", "h", "", "", "7.5"},
      {"0.5", "g", "", "", "", "BID", "", "1000"},
      {"7500", "mcg", "", "", "", "QD", "", "7.5"},
      {"1", "tablet", "", "", "", "QID", "2.5", "10"},
      {"35", "mg", "1", "1", "wk", "", "", "5"},
      {"15", "mg", "", "", "", "QOD", "", "7.5"},
      {"5", "mL", "", "", "", "QD", "", ""},   // not a mass
      {"5", "mg", "1", "1", "a", "", "", ""},  // a yearly period is not read
      {"5", "mg", "1", "0", "d", "", "", ""},  // nor a period of 0
  };
  for (const auto& c : cases) {
    auto use = std::make_shared<fhir::MedicationUse>();
    use->h.type = fhir::ResourceType::medication_request;
    fhir::Dosage d;
    d.dose = fhir::Quantity{dec(c.amount), c.amount, "", c.unit, "http://unitsofmeasure.org", c.unit};
    if (*c.frequency) d.timing.frequency = dec(c.frequency);
    if (*c.period) d.timing.period = dec(c.period);
    d.timing.period_unit = c.period_unit;
    d.timing.code = c.code;
    use->dosages.push_back(d);
    terminology::MedicationFact f{use, {}};
    if (*c.strength) f.match.strength_mg = dec(c.strength);
    std::string how;
    const auto mg = criteria::daily_mg(f, *parse_iso_day("2026-11-26"), how);
    const std::string label =
        std::string(c.amount) + " " + c.unit + " " + c.code + c.frequency + "/" + c.period;
    if (!*c.want) {
      BOOST_TEST(!mg.has_value(), label);
      BOOST_TEST(!how.empty(), label);
      continue;
    }
    BOOST_TEST_REQUIRE(mg.has_value(), label << ": " << how);
    BOOST_TEST((mg->low == dec(c.want)), label << ": " << mg->low.to_string() << " (" << how << ")");
    BOOST_TEST((mg->high == mg->low), label);
  }
}

// Findings of a review against CRITERIA.md (2026-11-28): each case wrongly excluded a patient before.
namespace {

std::string med(const std::string& type, const std::string& id, const std::string& pid,
                const std::string& rxnorm, const std::string& dosages,
                const std::string& extra = R"("authoredOn":"2026-01-01")") {
  const bool request = type == "MedicationRequest";
  return R"({"resourceType":")" + type + R"(","id":")" + id + R"(","status":"active",)" +
         (request ? R"("intent":"order",)" : "") + R"("subject":{"reference":"Patient/)" + pid +
         R"("},"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":")" +
         rxnorm + R"("}]},)" + extra + R"(,")" + (request ? "dosageInstruction" : "dosage") + R"(":[)" +
         dosages + "]}";
}
std::string oral(const std::string& dose,
                 const std::string& timing = R"({"code":{"coding":[{"code":"QD"}]}})",
                 const std::string& extra = "") {
  return R"({"timing":)" + timing +
         R"(,"route":{"coding":[{"system":"http://snomed.info/sct","code":"26643006"}]},"doseAndRate":[{)" +
         dose + "}]" + extra + "}";
}
std::string mg(const std::string& v) {
  return R"("doseQuantity":{"value":)" + v +
         R"(,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"})";
}
std::string mg_range(const std::string& lo, const std::string& hi) {
  return R"("doseRange":{"low":{"value":)" + lo + R"(,"unit":"mg"},"high":{"value":)" + hi +
         R"(,"unit":"mg"}})";
}
const std::string kPrednisone = "8640", kHydroxychloroquine = "5521";

}  // namespace

BOOST_AUTO_TEST_CASE(conditions_that_ended_or_may_have_ended_before_the_window) {
  const std::string sz = R"({"resourceType":"Condition","id":"ID","subject":{"reference":"Patient/PID"},)"
                         R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"91175000"}]},)";
  auto cond = [&](const std::string& id, const std::string& rest) {
    std::string s = sz;
    s.replace(s.find("ID"), 2, id);
    s.replace(s.find("PID"), 3, id);
    return s + rest + "}";
  };
  auto r = test::evaluate(
      {patient("abated"),
       cond("abated", R"("clinicalStatus":{"coding":[{"code":"resolved"}]},"abatementDateTime":"2015-06-01",)"
                      R"("recordedDate":"2026-11-01")"),
       patient("nostatus"), cond("nostatus", R"("onsetDateTime":"2010-05-01")"), patient("active"),
       cond("active", R"("clinicalStatus":{"coding":[{"code":"active"}]},"onsetDateTime":"2010-05-01")"),
       patient("recent"), cond("recent", R"("recordedDate":"2026-11-01")")},
      "2026-11-26");
  // Recorded late, but abated in 2015: not within 8 weeks.
  BOOST_TEST(outcome_of(r["abated"], "E-CNS") == "not_met");
  // An old diagnosis without clinicalStatus may or may not still be there.
  BOOST_TEST(outcome_of(r["nostatus"], "E-CNS") == "unknown");
  BOOST_TEST(outcome_of(r["active"], "E-CNS") == "met");
  BOOST_TEST(outcome_of(r["recent"], "E-CNS") == "met");  // recorded in the window, nothing says it ended

  // No date at all, or only an age or words: without a clinicalStatus whether it is there in the 8 weeks is
  // not known (it was met as "undated, active"); abated by age, words or a period's end: not active. With an
  // explicit active status an undated condition is there.
  auto u = test::evaluate(
      {patient("undated"), cond("undated", R"("verificationStatus":{"coding":[{"code":"confirmed"}]})"),
       patient("age"), cond("age", R"("onsetAge":{"value":8,"unit":"a"})"), patient("words"),
       cond("words", R"("onsetString":"childhood","abatementString":"resolved in 2001")"), patient("byage"),
       cond("byage", R"("onsetAge":{"value":8,"unit":"a"},"abatementAge":{"value":12,"unit":"a"})"),
       patient("ended"),
       cond("ended", R"("onsetDateTime":"2000-01-01","abatementPeriod":{"end":"2001-01-01"})"),
       patient("undated-active"),
       cond("undated-active", R"("clinicalStatus":{"coding":[{"code":"active"}]})")},
      "2026-11-26");
  for (const std::string pid : {"undated", "age", "words", "byage"})
    BOOST_TEST(outcome_of(u[pid], "E-CNS") == "unknown", pid);
  BOOST_TEST(outcome_of(u["ended"], "E-CNS") == "not_met");  // abatementPeriod.end in 2001
  BOOST_TEST(outcome_of(u["undated-active"], "E-CNS") == "met");
}

// Review 2026-11-29 (F1): a condition that began before the window and is resolved, with no abatement date,
// may have lasted into the window; only a record already resolved before the window says it did not.
BOOST_AUTO_TEST_CASE(a_resolved_condition_without_an_abatement_date_may_reach_the_window) {
  auto cancer = [](const std::string& pid, const std::string& meta) {
    return R"({"resourceType":"Condition","id":"c-)" + pid + R"(",)" + meta +
           R"("subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10-cm","code":"C50.911"}]},)"
           R"("clinicalStatus":{"coding":[{"code":"resolved"}]},"onsetDateTime":"2019-03-01"})";
  };
  auto r = test::evaluate(
      {patient("nodate"), cancer("nodate", ""), patient("updated-late"),
       cancer("updated-late", R"("meta":{"lastUpdated":"2025-01-10T08:00:00Z"},)"), patient("updated-early"),
       cancer("updated-early", R"("meta":{"lastUpdated":"2020-06-01T08:00:00+08:00"},)")},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["nodate"], "A-MAL") == "unknown");         // it was met as "not met"
  BOOST_TEST(outcome_of(r["updated-late"], "A-MAL") == "unknown");   // resolved some time before 2025
  BOOST_TEST(outcome_of(r["updated-early"], "A-MAL") == "not_met");  // resolved by 2020, before the 5 years
}

// Review 2026-11-29: a delivery or a miscarriage says a pregnancy ended, not that one goes on; a reactive HIV
// screen alone needs a confirmatory test; a coded HIV disease decides.
BOOST_AUTO_TEST_CASE(ended_pregnancies_and_hiv_screens_exclude_no_one) {
  const std::string cm = "http://hl7.org/fhir/sid/icd-10-cm";
  auto active = [&](const std::string& id, const std::string& pid, const std::string& code) {
    return R"({"resourceType":"Condition","id":")" + id + R"(","subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":")" + cm + R"(","code":")" + code +
           R"("}]},"clinicalStatus":{"coding":[{"code":"active"}]},"onsetDateTime":"2026-10-01"})";
  };
  auto hiv = [](const std::string& id, const std::string& pid) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://loinc.org","code":"56888-1"}]},)"
           R"("effectiveDateTime":"2026-06-01","valueString":"Reactive"})";
  };
  auto r =
      test::evaluate({patient("delivered"), active("d", "delivered", "O80"), patient("miscarried"),
                      active("m", "miscarried", "O03.9"), patient("pregnant"),
                      active("p", "pregnant", "Z34.83"), patient("screen"), hiv("s", "screen"),
                      patient("disease"), hiv("t", "disease"), active("h", "disease", "B20"),
                      patient("complicated"), active("c", "complicated", "O99.011"), patient("anaemia"),
                      active("a", "anaemia", "O99.0"), patient("related"), active("r", "related", "O26.891")},
                     "2026-11-26");
  // Maternal diseases complicating pregnancy, childbirth or the puerperium: which, a human says.
  BOOST_TEST(outcome_of(r["complicated"], "A-PREG") == "unknown");
  BOOST_TEST(outcome_of(r["anaemia"], "A-PREG") == "unknown");
  BOOST_TEST(outcome_of(r["related"], "A-PREG") == "met");
  BOOST_TEST(outcome_of(r["delivered"], "A-PREG") != "met");
  BOOST_TEST(outcome_of(r["miscarried"], "A-PREG") != "met");
  BOOST_TEST(outcome_of(r["pregnant"], "A-PREG") == "met");
  BOOST_TEST(outcome_of(r["screen"], "A-HIV") == "unknown");
  BOOST_TEST(outcome_of(r["disease"], "A-HIV") == "met");
}

BOOST_AUTO_TEST_CASE(a_newer_result_with_a_partial_date_keeps_latest_from_an_older_one) {
  auto r = test::evaluate({patient("p"), lab("old", "p", "2458-8", "5", "mg/dL", "2015-01-01"),
                           lab("month", "p", "2458-8", "150", "mg/dL", "2026-11"), patient("q"),
                           lab("old-q", "q", "2458-8", "5", "mg/dL", "2015-01-01"),
                           lab("day-q", "q", "2458-8", "150", "mg/dL", "2026-11-20"), patient("s"),
                           lab("old-s", "s", "2458-8", "5", "mg/dL", "2015-01-01"),
                           lab("month-s", "s", "2458-8", "7", "mg/dL", "2026-11")},
                          "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "E-IGA") == "unknown");  // "2026-11" may be the latest: 150 is not < 10
  BOOST_TEST(outcome_of(r["q"], "E-IGA") == "not_met");
  BOOST_TEST(outcome_of(r["s"], "E-IGA") == "met");  // both read the same way
}

BOOST_AUTO_TEST_CASE(a_planned_procedure_has_not_happened) {
  auto tx = [](const std::string& pid, const std::string& status) {
    return R"({"resourceType":"Procedure","id":"tx-)" + pid + R"(","status":")" + status +
           R"(","subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://snomed.info/sct","code":"70536003"}]}})";
  };
  auto r = test::evaluate(
      {patient("planned"), tx("planned", "preparation"), patient("done"), tx("done", "completed")},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["planned"], "E-TX") == "not_met");
  BOOST_TEST(outcome_of(r["done"], "E-TX") == "met");
}

BOOST_AUTO_TEST_CASE(an_active_statement_with_one_date_is_current) {
  auto r = test::evaluate({patient("p"), med("MedicationRequest", "pred", "p", kPrednisone, oral(mg("5"))),
                           med("MedicationStatement", "hcq", "p", kHydroxychloroquine, oral(mg("200")),
                               R"("effectiveDateTime":"2025-12-01")")},
                          "2026-11-26");
  // Not "prednisone 5 mg alone": hydroxychloroquine is taken too.
  BOOST_TEST(outcome_of(r["p"], "I6d") == "met");
}

BOOST_AUTO_TEST_CASE(doses_taken_together_ranges_and_duplicate_records) {
  const std::string am = R"({"code":{"coding":[{"code":"AM"}]}})",
                    pm = R"({"code":{"coding":[{"code":"PM"}]}})";
  const std::string seq1 = R"(,"sequence":1)";
  auto r = test::evaluate(
      {// 5 mg morning + 5 mg evening, the same sequence: 10 mg/day, so I6d (>= 7.5 if alone) is met.
       patient("split"),
       med("MedicationRequest", "s", "split", kPrednisone,
           oral(mg("5"), am, seq1) + "," + oral(mg("5"), pm, seq1)),
       // Without sequences it may be 5 or 10: unknown.
       patient("noseq"),
       med("MedicationRequest", "n", "noseq", kPrednisone, oral(mg("5"), am) + "," + oral(mg("5"), pm)),
       // A range across I6c's 40 mg: unknown; one below it: met.
       patient("range"), med("MedicationRequest", "r", "range", kPrednisone, oral(mg_range("30", "50"))),
       patient("lowrange"),
       med("MedicationRequest", "l", "lowrange", kPrednisone, oral(mg_range("20", "30"))),
       // An order and a statement of the same 30 mg: 30 or 60, unknown against 40, not "60, not met".
       patient("dup"), med("MedicationRequest", "d1", "dup", kPrednisone, oral(mg("30"))),
       med("MedicationStatement", "d2", "dup", kPrednisone, oral(mg("30")),
           R"("effectivePeriod":{"start":"2026-01-01"})"),
       // Two drugs add up: 30 mg prednisone + 16 mg methylprednisolone (20 mg prednisone-eq) = 50.
       patient("two"), med("MedicationRequest", "t1", "two", kPrednisone, oral(mg("30"))),
       med("MedicationRequest", "t2", "two", "6902", oral(mg("16"))),
       // 60-100 mg a day for 21 days inside 8 weeks: E-SLN (>= 100 mg for >= 14 days) unknown; 100 mg: met.
       patient("sus"),
       med("MedicationRequest", "u", "sus", kPrednisone,
           oral(
               mg_range("60", "100"),
               R"({"code":{"coding":[{"code":"QD"}]},"repeat":{"boundsPeriod":{"start":"2026-10-10","end":"2026-10-30"}}})")),
       patient("sus100"),
       med("MedicationRequest", "v", "sus100", kPrednisone,
           oral(
               mg("100"),
               R"({"code":{"coding":[{"code":"QD"}]},"repeat":{"boundsPeriod":{"start":"2026-10-10","end":"2026-10-30"}}})"))},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["split"], "I6d") == "met");
  BOOST_TEST(outcome_of(r["noseq"], "I6d") == "unknown");
  BOOST_TEST(outcome_of(r["range"], "I6c") == "unknown");
  BOOST_TEST(outcome_of(r["lowrange"], "I6c") == "met");
  BOOST_TEST(outcome_of(r["dup"], "I6c") == "unknown");
  BOOST_TEST(outcome_of(r["two"], "I6c") == "not_met");
  BOOST_TEST(outcome_of(r["sus"], "E-SLN") == "unknown");
  BOOST_TEST(outcome_of(r["sus100"], "E-SLN") == "met");
}

BOOST_AUTO_TEST_CASE(an_unreadable_medication_leaves_drug_criteria_unknown) {
  // The use names its drug by reference, and the Medication line is cut short: which drug it is, is not
  // known, so "only a glucocorticoid" (I6d) cannot be decided.
  const std::string use =
      R"({"resourceType":"MedicationRequest","id":"u","status":"active","intent":"order","subject":{"reference":"Patient/p"},)"
      R"("medicationReference":{"reference":"Medication/m1"},"authoredOn":"2026-01-01","dosageInstruction":[)" +
      oral(mg("5")) + "]}";
  auto r = test::evaluate({patient("p"), med("MedicationRequest", "pred", "p", kPrednisone, oral(mg("5"))),
                           use, R"({"resourceType":"Medication","id":"m1","code":{"coding":[{"system":)"},
                          "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "I6d") == "unknown");
}

// Orders that were not given: doNotPerform (an order NOT to give the drug), intent plan or option (as a
// proposal and MedicationStatement 'intended'). Each is a prednisone 50 mg beside the 5 mg taken; counted, it
// would put I6c's limit of 40 mg/day in doubt.
BOOST_AUTO_TEST_CASE(orders_not_to_give_and_plans_are_not_uses) {
  std::vector<std::string> data;
  for (const auto& [pid, extra] : std::vector<std::pair<std::string, std::string>>{
           {"dnp", R"("authoredOn":"2026-01-01","doNotPerform":true)"},
           {"plan", R"("authoredOn":"2026-01-01")"},
           {"option", R"("authoredOn":"2026-01-01")"},
           {"order", R"("authoredOn":"2026-01-01")"}}) {
    data.push_back(patient(pid));
    data.push_back(med("MedicationRequest", "base-" + pid, pid, kPrednisone, oral(mg("5"))));
    std::string big = med("MedicationRequest", "big-" + pid, pid, kPrednisone, oral(mg("50")), extra);
    if (pid == "plan" || pid == "option")
      big.replace(big.find(R"("intent":"order")"), 16, R"("intent":")" + pid + "\"");
    data.push_back(big);
  }
  auto r = test::evaluate(data, "2026-11-26");
  // The control: a real second order counts (two records of one drug: between 5 and 55 mg/day, so unknown).
  BOOST_TEST(outcome_of(r["order"], "I6c") == "unknown");
  for (const std::string pid : {"dnp", "plan", "option"}) BOOST_TEST(outcome_of(r[pid], "I6c") == "met", pid);
}

// A medicationReference with a version ("Medication/m1/_history/1") names the Medication read as m1, and one
// with only a display names the drug in words (matched by name, as a text-only concept is: with low
// confidence, so "prednisone alone" becomes unknown instead of met by the drug's absence).
BOOST_AUTO_TEST_CASE(medication_references_with_a_version_or_only_a_display) {
  auto use = [](const std::string& pid, const std::string& ref) {
    return R"({"resourceType":"MedicationRequest","id":"u-)" + pid +
           R"(","status":"active","intent":"order","subject":{"reference":"Patient/)" + pid +
           R"("},"medicationReference":)" + ref + R"(,"authoredOn":"2026-01-01","dosageInstruction":[)" +
           oral(mg("200")) + "]}";
  };
  auto r = test::evaluate(
      {patient("v"), med("MedicationRequest", "pred-v", "v", kPrednisone, oral(mg("5"))),
       use("v", R"({"reference":"Medication/hcq/_history/1"})"),
       R"({"resourceType":"Medication","id":"hcq","meta":{"versionId":"1"},"code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"5521"}]}})",
       patient("d"), med("MedicationRequest", "pred-d", "d", kPrednisone, oral(mg("5"))),
       use("d", R"({"display":"Hydroxychloroquine 200 mg tablet"})"), patient("alone"),
       med("MedicationRequest", "pred-alone", "alone", kPrednisone, oral(mg("5")))},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["v"], "I6d") == "met");  // prednisone with hydroxychloroquine, not prednisone alone
  BOOST_TEST(outcome_of(r["alone"], "I6d") == "not_met");
  BOOST_TEST(outcome_of(r["d"], "I6d") == "unknown");
}

BOOST_AUTO_TEST_CASE(a_newer_version_that_no_criterion_reads_replaces_the_old_one) {
  // Condition v1 is an epilepsy (a CNS exclusion); v2 recodes it to syncope, which no criterion reads. v2
  // must win even though it is dropped as irrelevant, in either order of arrival.
  auto cond = [](const std::string& pid, const std::string& version, const std::string& snomed) {
    return R"({"resourceType":"Condition","id":"c-)" + pid + R"(","meta":{"versionId":")" + version +
           R"("},"clinicalStatus":{"coding":[{"code":"active"}]},"subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://snomed.info/sct","code":")" + snomed +
           R"("}]},"onsetDateTime":"2026-11-01"})";
  };
  // Medication m-<pid> v2 (hydroxychloroquine) arrives before v1 (prednisone): the use takes v2's drug.
  auto medication = [](const std::string& pid, const std::string& version, const std::string& rxnorm) {
    return R"({"resourceType":"Medication","id":"m-)" + pid + R"(","meta":{"versionId":")" + version +
           R"("},"code":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":")" +
           rxnorm + R"("}]}})";
  };
  auto by_ref = [](const std::string& pid) {
    return R"({"resourceType":"MedicationRequest","id":"r-)" + pid +
           R"(","status":"active","intent":"order","subject":{"reference":"Patient/)" + pid +
           R"("},"medicationReference":{"reference":"Medication/m-)" + pid +
           R"("},"authoredOn":"2026-01-01","dosageInstruction":[)" + oral(mg("5")) + "]}";
  };
  auto r =
      test::evaluate({patient("a"), cond("a", "1", "91175000"), cond("a", "2", "271594007"), patient("b"),
                      cond("b", "2", "271594007"), cond("b", "1", "91175000"), patient("c"),
                      med("MedicationRequest", "pred-c", "c", kPrednisone, oral(mg("5"))), by_ref("c"),
                      medication("c", "2", kHydroxychloroquine), medication("c", "1", kPrednisone)},
                     "2026-11-26");
  BOOST_TEST(outcome_of(r["a"], "E-CNS") == "not_met");
  BOOST_TEST(outcome_of(r["b"], "E-CNS") == "not_met");
  BOOST_TEST(outcome_of(r["c"], "I6d") == "met");  // prednisone with hydroxychloroquine, not prednisone alone
}

BOOST_AUTO_TEST_CASE(versions_without_numbers_are_ordered_by_lastupdated_as_time) {
  // "12:00:00.250Z" is the newer instant, though it sorts first as a string; so is "08:00:00-05:00" against
  // "12:00:00Z".
  auto cond = [](const std::string& pid, const std::string& version, const std::string& updated,
                 bool active) {
    return R"({"resourceType":"Condition","id":"c-)" + pid + R"(","meta":{"versionId":")" + version +
           R"(","lastUpdated":")" + updated + R"("},"clinicalStatus":{"coding":[{"code":")" +
           (active ? "active" : "resolved") + R"("}]},"subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://snomed.info/sct","code":"91175000"}]},"onsetDateTime":")" +
           (active ? "2026-11-01" : "2010-01-01\",\"abatementDateTime\":\"2011-01-01") + R"("})";
  };
  auto r = test::evaluate({patient("a"), cond("a", "W/a1", "2026-11-20T12:00:00Z", false),
                           cond("a", "W/b2", "2026-11-20T12:00:00.250Z", true), patient("b"),
                           cond("b", "W/a1", "2026-11-20T12:00:00Z", false),
                           cond("b", "W/b2", "2026-11-20T08:00:00-05:00", true)},
                          "2026-11-26");
  BOOST_TEST(outcome_of(r["a"], "E-CNS") == "met");
  BOOST_TEST(outcome_of(r["b"], "E-CNS") == "met");
}

BOOST_AUTO_TEST_CASE(a_use_whose_medication_was_not_delivered_leaves_drug_criteria_unknown) {
  // Prednisone 5 mg, and a second drug named only by a Medication the source did not deliver: "only a
  // glucocorticoid" (I6d) cannot be decided.
  const std::string use =
      R"({"resourceType":"MedicationStatement","id":"u","status":"active","subject":{"reference":"Patient/p"},)"
      R"("medicationReference":{"reference":"Medication/not-delivered"},"effectiveDateTime":"2026-01-01"})";
  auto r = test::evaluate(
      {patient("p"), med("MedicationRequest", "pred", "p", kPrednisone, oral(mg("5"))), use}, "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "I6d") == "unknown");
}

BOOST_AUTO_TEST_CASE(an_undated_result_may_be_the_latest) {
  // WBC 5.0 on 2026-11-01 is the latest dated result (WBC < 2.5 not met), but a WBC of 1.0 without
  // any date may be newer and reads otherwise: unknown. An undated result that agrees changes nothing.
  auto undated = [](const std::string& id, const std::string& pid, const std::string& value) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://loinc.org","code":"6690-2"}]},"valueQuantity":{"value":)" +
           value + R"(,"unit":"10*9/L","system":"http://unitsofmeasure.org","code":"10*9/L"}})";
  };
  const auto trial = trial_from(
      R"({"id":"W","kind":"exclusion","label":"w","expr":{"observation":{"concept":"wbc","window":{"days":90},)"
      R"("select":"latest","test":{"op":"<","value":"2.5","unit":"10*9/L"}}}})");
  BOOST_TEST_REQUIRE(trial.ok());
  auto r = test::evaluate(
      {patient("p"), lab("w1", "p", "6690-2", "5.0", "10*9/L", "2026-11-01"), undated("w2", "p", "1.0"),
       patient("q"), lab("w3", "q", "6690-2", "5.0", "10*9/L", "2026-11-01"), undated("w4", "q", "6.0")},
      "2026-11-26", *trial);
  BOOST_TEST(outcome_of(r["p"], "W") == "unknown");
  BOOST_TEST(outcome_of(r["q"], "W") == "not_met");
}

BOOST_AUTO_TEST_CASE(a_definition_can_say_preliminary_results_decide_nothing) {
  auto creat = [](const std::string& pid, const std::string& status) {
    return R"({"resourceType":"Observation","id":"cr-)" + pid + R"(","status":")" + status +
           R"(","subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},"effectiveDateTime":"2026-11-20",)"
           R"("valueQuantity":{"value":3.0,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}})";
  };
  auto leaf = [](const std::string& preliminary) {
    return trial_from(
        R"({"id":"X","kind":"exclusion","label":"x","expr":{"observation":{"concept":"creatinine","window":{"weeks":8},)"
        R"("select":"any","test":{"op":">","value":"2.5","unit":"mg/dL"})" +
        preliminary + "}}}");
  };
  const std::vector<std::string> lines = {patient("f"), creat("f", "final"), patient("p"),
                                          creat("p", "preliminary")};
  auto by_default = leaf("");
  auto strict = leaf(R"(,"preliminary":"unknown")");
  BOOST_TEST_REQUIRE(by_default.ok());
  BOOST_TEST_REQUIRE(strict.ok());
  auto d = test::evaluate(lines, "2026-11-26", *by_default);
  auto s = test::evaluate(lines, "2026-11-26", *strict);
  BOOST_TEST(outcome_of(d["p"], "X") == "met");  // the default: a preliminary result decides
  BOOST_TEST(outcome_of(s["f"], "X") == "met");
  BOOST_TEST(outcome_of(s["p"], "X") == "unknown");
  BOOST_TEST(!leaf(R"(,"preliminary":"maybe")").ok());
}

// A positive HBsAg carrying a modifierExtension this tool does not understand: A-HBV cannot be decided (it
// was "not_met: no hbsag result", a "no" for what is unknown). A Procedure likewise.
BOOST_AUTO_TEST_CASE(results_with_unknown_modifiers_are_not_absent) {
  auto hbsag = [](const std::string& pid, const std::string& extra) {
    return R"({"resourceType":"Observation","id":"hb-)" + pid +
           R"(","status":"final","subject":{"reference":"Patient/)" + pid + R"("},)" + extra +
           R"("code":{"coding":[{"system":"http://loinc.org","code":"5196-1"}]},"effectiveDateTime":"2026-11-10",)"
           R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"10828004"}]}})";
  };
  auto r = test::evaluate(
      {patient("plain"), hbsag("plain", ""), patient("mod"),
       hbsag("mod", R"("modifierExtension":[{"url":"http://example.org/x","valueBoolean":true}],)"),
       patient("none")},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["plain"], "A-HBV") == "met");
  BOOST_TEST(outcome_of(r["mod"], "A-HBV") == "unknown");
  BOOST_TEST(outcome_of(r["none"], "A-HBV") == "not_met");
}

// Two platelet counts on one day: the later one by time of day is the latest, whatever their ids (the id once
// broke the tie, so 40 at 08:00 stood for the 120 at 20:00 and met A-LAB's platelets < 50).
// A hepatitis panel whose HBsAg result sits in component[0]: the component is a result of its own (it was
// dropped as irrelevant, and A-HBV read "no hbsag result": not_met).
BOOST_AUTO_TEST_CASE(results_inside_components_count) {
  auto panel =
      R"({"resourceType":"Observation","id":"panel","status":"final","subject":{"reference":"Patient/p"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"24363-4"}]},"effectiveDateTime":"2026-11-10",)"
      R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"5196-1"}]},)"
      R"("valueCodeableConcept":{"coding":[{"system":"http://snomed.info/sct","code":"10828004"}]}}]})";
  auto r = test::evaluate({patient("p"), panel, patient("none")}, "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "A-HBV") == "met");
  BOOST_TEST(outcome_of(r["none"], "A-HBV") == "not_met");
}

BOOST_AUTO_TEST_CASE(latest_on_one_day_goes_by_the_time_of_day) {
  auto plt = [](const std::string& pid, const std::string& id, const std::string& when,
                const std::string& value) {
    return R"({"resourceType":"Observation","id":")" + id +
           R"(","status":"final","subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":"http://loinc.org","code":"777-3"}]},"effectiveDateTime":")" +
           when + R"(","valueQuantity":{"value":)" + value +
           R"(,"unit":"10*9/L","system":"http://unitsofmeasure.org","code":"10*9/L"}})";
  };
  auto r = test::evaluate({patient("up"), plt("up", "plt-z-early", "2026-11-20T08:00:00+08:00", "40"),
                           plt("up", "plt-a-late", "2026-11-20T20:00:00+08:00", "120"), patient("down"),
                           plt("down", "plt-z-early-d", "2026-11-20T08:00:00+08:00", "120"),
                           plt("down", "plt-a-late-d", "2026-11-20T20:00:00+08:00", "40")},
                          "2026-11-26");
  BOOST_TEST(outcome_of(r["up"], "A-LAB") != "met");  // not_met for platelets (other counts absent: unknown)
  BOOST_TEST(outcome_of(r["down"], "A-LAB") == "met");
}

BOOST_AUTO_TEST_CASE(key_values_show_the_result_the_criteria_took) {
  // Two IgA results on one day: the criteria take the newer version-time (220 mg/dL), so must the key value;
  // one carrying a modifierExtension is set aside by the key value, and leaves the criterion unknown (it is
  // the newest on that day and cannot be read).
  auto iga = [](const std::string& id, const std::string& value, const std::string& updated,
                const std::string& extra = "") {
    return R"({"resourceType":"Observation","id":")" + id + R"(","meta":{"lastUpdated":")" + updated +
           R"("},"status":"final","subject":{"reference":"Patient/p"},)" + extra +
           R"("code":{"coding":[{"system":"http://loinc.org","code":"2458-8"}]},"effectiveDateTime":"2026-10-01",)"
           R"("valueQuantity":{"value":)" +
           value + R"(,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}})";
  };
  auto ana =
      R"({"resourceType":"Observation","id":"ana","status":"final","subject":{"reference":"Patient/p"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"5048-4"}]},"effectiveDateTime":"2026-10-01",)"
      R"("valueRatio":{"numerator":{"value":2},"denominator":{"value":640}}})";
  auto r = test::evaluate(
      {patient("p"), iga("a-new", "220", "2026-10-02T10:00:00Z"), iga("b-old", "5", "2026-10-01T10:00:00Z"),
       iga("c-mod", "3", "2026-10-03T10:00:00Z",
           R"("modifierExtension":[{"url":"http://x.org/unknown","valueBoolean":true}],)"),
       ana},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "E-IGA") == "unknown");
  std::map<std::string, std::string> kv;
  for (const auto& k : r["p"].key_values) kv[k.concept_id] = k.value;
  BOOST_TEST(kv["iga"] == "220 mg/dL");
  BOOST_TEST(kv["ana_titre"] == "2:640");  // as written, not "1:640"
}

// Each score criterion shows the evidence of its own items: I4a (SLEDAI-2K, last 90 days) not the EULAR/ACR
// items from years ago, and I3 (EULAR/ACR, ever) its entry criterion (the ANA titre) with its items.
BOOST_AUTO_TEST_CASE(score_criteria_show_their_own_evidence) {
  const std::string kPositive =
      R"(,"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",)"
      R"("code":"POS"}]}])";
  const std::string ana =
      R"({"resourceType":"Observation","id":"ana","status":"final","subject":{"reference":"Patient/s"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"5048-4"}]},"effectiveDateTime":"2023-05-01",)"
      R"("valueString":"1:320"})";
  auto r = test::evaluate({patient("s"), ana, lab("c3", "s", "4485-9", "0.40", "g/L", "2023-05-01"),
                           lab("ds", "s", "5130-0", "300", "[IU]/mL", "2026-11-01", kPositive)},
                          "2026-11-26");
  auto evidence_of = [&](const std::string& criterion) {
    std::set<std::string> out;
    for (const auto& c : r["s"].results)
      if (c.id == criterion)
        for (const auto& e : c.evidence) out.insert(e.resource);
    return out;
  };
  const std::set<std::string> sledai{"Observation/ds"};
  const std::set<std::string> eular{"Observation/ana", "Observation/c3", "Observation/ds"};
  BOOST_TEST(evidence_of("I4a") == sledai);
  BOOST_TEST(evidence_of("I3") == eular);
}

// Review 2026-11-29: uses whose end or taking the record leaves open, and uses that are no systemic therapy.
BOOST_AUTO_TEST_CASE(uncertain_and_local_uses_exclude_no_one) {
  auto with_status = [](std::string line, const std::string& status) {
    line.replace(line.find(R"("status":"active")"), 17, R"("status":")" + status + "\"");
    return line;
  };
  const std::string qd_bounded = R"({"code":{"coding":[{"code":"QD"}]},"repeat":{"boundsPeriod":)"
                                 R"({"start":"2026-10-01","end":"2027-03-31"}}})";
  const std::string topical =
      R"({"timing":{"code":{"coding":[{"code":"BID"}]}},"route":{"coding":[{"system":"http://snomed.info/sct",)"
      R"("code":"6064005","display":"Topical route"}]},"doseAndRate":[{"doseQuantity":{"value":2,"unit":"g"}}]})";
  const std::string edqm_oral =
      R"({"timing":{"code":{"coding":[{"code":"QD"}]}},"route":{"coding":[{"system":"urn:oid:0.4.0.127.0.16.1.1.2.1",)"
      R"("code":"20053000"}]},"doseAndRate":[{)" +
      mg("60") + "}]}";
  auto r = test::evaluate(
      {// Methylprednisolone 48 mg/day (60 prednisone-eq), stopped on a day not given before its planned end.
       patient("stopped"),
       with_status(med("MedicationRequest", "mp", "stopped", "6902", oral(mg("48"), qd_bounded)), "stopped"),
       // Prednisone 5 mg, and hydroxychloroquine of status unknown: maybe not glucocorticoid alone.
       patient("unknown"), med("MedicationRequest", "p1", "unknown", kPrednisone, oral(mg("5"))),
       with_status(med("MedicationStatement", "h1", "unknown", kHydroxychloroquine, oral(mg("200")),
                       R"("effectiveDateTime":"2025-12-01")"),
                   "unknown"),
       // Prednisone 5 mg and a hydrocortisone cream: the cream is neither a glucocorticoid therapy nor a
       // dose.
       patient("cream"), med("MedicationRequest", "p2", "cream", kPrednisone, oral(mg("5"))),
       med("MedicationRequest", "hc", "cream", "5492", topical),
       // 60 mg prednisone by mouth, the route coded in EDQM without a display.
       patient("edqm"), med("MedicationRequest", "p3", "edqm", kPrednisone, edqm_oral)},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["stopped"], "I6c") == "unknown");
  BOOST_TEST(outcome_of(r["stopped"], "I6d") == "unknown");
  BOOST_TEST(outcome_of(r["unknown"], "I6d") == "unknown");
  BOOST_TEST(outcome_of(r["cream"], "I6d") == "not_met");  // prednisone 5 mg alone, below 7.5
  BOOST_TEST(outcome_of(r["cream"], "E-SLN") != "met");
  BOOST_TEST(outcome_of(r["edqm"], "I6c") == "not_met");
}

// Review 2026-11-29: a drug no mapping identifies (a brand, an unmapped local code) may be the other SLE
// therapy: "glucocorticoid alone" (I6d) is unknown beside it, not a low dose that excludes the patient.
BOOST_AUTO_TEST_CASE(an_unidentified_drug_leaves_glucocorticoid_alone_unknown) {
  auto brand = [](const std::string& id, const std::string& pid, const std::string& route) {
    return R"({"resourceType":"MedicationRequest","id":")" + id +
           R"(","status":"active","intent":"order","subject":{"reference":"Patient/)" + pid +
           R"("},"medicationCodeableConcept":{"coding":[{"system":"http://hospital.example.org/drug","code":"X-17",)"
           R"("display":"骁悉 0.5 g"}]},"authoredOn":"2026-01-01","dosageInstruction":[{"route":{"coding":[{)"
           R"("system":"http://snomed.info/sct","code":")" +
           route + R"("}]}}]})";
  };
  // Codes that name another drug: RxNorm with its name, ATC outside the mapped drugs' groups (A10: diabetes).
  auto metformin = brand("m", "metformin", "26643006");
  metformin.replace(metformin.find("http://hospital.example.org/drug"), 32,
                    "http://www.nlm.nih.gov/research/umls/rxnorm");
  metformin.replace(metformin.find("X-17"), 4, "860975");
  metformin.replace(metformin.find("骁悉 0.5 g"), std::string("骁悉 0.5 g").size(),
                    "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet");
  auto by_atc = [&](const std::string& code) {
    std::string pid = code == "A10BA02" ? "atc" : "atc-l04";
    auto s = brand("n-" + pid, pid, "26643006");
    s.replace(s.find("http://hospital.example.org/drug"), 32, "http://www.whocc.no/atc");
    s.replace(s.find("X-17"), 4, code);
    return s;
  };
  auto stopped = brand("old", "stopped", "26643006");
  stopped.replace(stopped.find(R"("status":"active")"), 17, R"("status":"completed")");
  stopped.replace(stopped.find("2026-01-01"), 10, "2020-01-01");
  auto r = test::evaluate({patient("alone"),
                           med("MedicationRequest", "a", "alone", kPrednisone, oral(mg("5"))),
                           patient("brand"),
                           med("MedicationRequest", "b", "brand", kPrednisone, oral(mg("5"))),
                           brand("x", "brand", "26643006"),
                           patient("cream"),
                           med("MedicationRequest", "c", "cream", kPrednisone, oral(mg("5"))),
                           brand("y", "cream", "6064005"),
                           patient("stopped"),
                           med("MedicationRequest", "d", "stopped", kPrednisone, oral(mg("5"))),
                           stopped,
                           patient("metformin"),
                           med("MedicationRequest", "e", "metformin", kPrednisone, oral(mg("5"))),
                           metformin,
                           patient("atc"),
                           med("MedicationRequest", "f", "atc", kPrednisone, oral(mg("5"))),
                           by_atc("A10BA02"),
                           patient("atc-l04"),
                           med("MedicationRequest", "g", "atc-l04", kPrednisone, oral(mg("5"))),
                           by_atc("L04AA99")},
                          "2026-11-26");
  BOOST_TEST(outcome_of(r["alone"], "I6d") == "not_met");    // 5 mg < 7.5 with nothing else
  BOOST_TEST(outcome_of(r["brand"], "I6d") == "unknown");    // it was not_met: a lost candidate
  BOOST_TEST(outcome_of(r["cream"], "I6d") == "not_met");    // a topical use is no SLE therapy
  BOOST_TEST(outcome_of(r["stopped"], "I6d") == "not_met");  // completed in 2020: not taken now
  BOOST_TEST(outcome_of(r["metformin"], "I6d") == "not_met");
  BOOST_TEST(outcome_of(r["atc"], "I6d") == "not_met");
  BOOST_TEST(outcome_of(r["atc-l04"], "I6d") == "unknown");  // an immunosuppressant the mappings lack
  bool named = false;
  for (const auto& c : r["brand"].results)
    if (c.id == "I6d")
      for (const auto& e : c.evidence) named = named || (e.resource == "MedicationRequest/x");
  BOOST_TEST(named);
}

// Review 2026-11-29: a past history entry recorded in the window, dialysis preparation, an undated result
// that may be the latest.
BOOST_AUTO_TEST_CASE(history_entries_dialysis_preparation_and_undated_latest) {
  const std::string cm = "http://hl7.org/fhir/sid/icd-10-cm", who = "http://hl7.org/fhir/sid/icd-10";
  auto recorded_only = [&](const std::string& id, const std::string& pid, const std::string& system,
                           const std::string& code, const std::string& rest) {
    return R"({"resourceType":"Condition","id":")" + id + R"(","subject":{"reference":"Patient/)" + pid +
           R"("},"code":{"coding":[{"system":")" + system + R"(","code":")" + code +
           R"("}]},"recordedDate":"2026-11-01")" + rest + "}";
  };
  const std::string undated_iga =
      R"({"resourceType":"Observation","id":"u","status":"final","subject":{"reference":"Patient/iga"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"2458-8"}]},)"
      R"("valueQuantity":{"value":150,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}})";
  auto r = test::evaluate(
      {patient("epilepsy"),
       recorded_only(
           "e", "epilepsy", cm, "G40.909",
           R"(,"clinicalStatus":{"coding":[{"code":"inactive"}]},"onsetAge":{"value":5,"unit":"a"})"),
       patient("cancer"),
       recorded_only("m", "cancer", cm, "C50.911",
                     R"(,"clinicalStatus":{"coding":[{"code":"remission"}]},"onsetString":"2010")"),
       patient("active"),
       recorded_only("a", "active", cm, "G40.909", R"(,"clinicalStatus":{"coding":[{"code":"active"}]})"),
       patient("prep"), condition("d", "prep", who, "Z49.0", "2026-11-01"), patient("iga"),
       lab("o", "iga", "2458-8", "5", "mg/dL", "2020-01-01"), undated_iga},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["epilepsy"], "E-CNS") == "unknown");
  BOOST_TEST(outcome_of(r["cancer"], "A-MAL") == "unknown");
  BOOST_TEST(outcome_of(r["active"], "E-CNS") == "met");   // present when recorded, in the window
  BOOST_TEST(outcome_of(r["prep"], "E-SLN") != "met");     // preparing for dialysis is not dialysis
  BOOST_TEST(outcome_of(r["iga"], "E-IGA") == "unknown");  // the undated 150 may be the latest
}

// "20 mg 1 to 3 times a day" (frequencyMax) is 20-60 mg/day: not read as 20, which met "<= 40".
BOOST_AUTO_TEST_CASE(a_frequency_up_to_a_maximum_is_no_single_dose) {
  const std::string up_to_three =
      R"({"repeat":{"frequency":1,"frequencyMax":3,"period":1,"periodUnit":"d"}})";
  const std::string three = R"({"repeat":{"frequency":3,"frequencyMax":3,"period":1,"periodUnit":"d"}})";
  auto r = test::evaluate(
      {patient("max"), med("MedicationRequest", "p", "max", kPrednisone, oral(mg("20"), up_to_three)),
       patient("same"), med("MedicationRequest", "q", "same", kPrednisone, oral(mg("20"), three))},
      "2026-11-26");
  BOOST_TEST(outcome_of(r["max"], "I6c") == "unknown");
  BOOST_TEST(outcome_of(r["same"], "I6c") ==
             "not_met");  // 60 mg/day: a frequencyMax equal to it changes nothing
}

// A result inside a component has its own interpretation and reference range (a hepatitis panel's HBsAg).
BOOST_AUTO_TEST_CASE(a_component_reads_its_own_interpretation) {
  const std::string panel =
      R"({"resourceType":"Observation","id":"panel","status":"final","subject":{"reference":"Patient/p"},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"24363-4"}]},"effectiveDateTime":"2026-11-01",)"
      R"("component":[{"code":{"coding":[{"system":"http://loinc.org","code":"5196-1"}]},)"
      R"("valueQuantity":{"value":250,"unit":"IU/mL","system":"http://unitsofmeasure.org","code":"[IU]/mL"},)"
      R"("interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",)"
      R"("code":"POS"}]}],"referenceRange":[{"high":{"value":0.05,"unit":"IU/mL"}}]}]})";
  auto r = test::evaluate({patient("p"), panel}, "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "A-HBV") == "met");
}

// Administrations are doses given: three of 40 mg methylprednisolone on a day are 120 mg (150 prednisone-eq),
// and 20 such days meet E-SLN's ">= 100 mg/day for >= 14 days" (they read 50-150, as if duplicates).
BOOST_AUTO_TEST_CASE(administrations_on_one_day_add_up) {
  std::vector<std::string> lines = {patient("p")};
  for (int day = 7; day <= 26; ++day)
    for (int dose = 0; dose < 3; ++dose) {
      const std::string id = "a" + std::to_string(day) + "-" + std::to_string(dose);
      const std::string date = "2026-11-" + std::string(day < 10 ? "0" : "") + std::to_string(day);
      lines.push_back(
          R"({"resourceType":"MedicationAdministration","id":")" + id +
          R"(","status":"completed","subject":{"reference":"Patient/p"},"medicationCodeableConcept":{"coding":)"
          R"([{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"6902"}]},"effectiveDateTime":")" +
          date +
          R"(","dosage":{"dose":{"value":40,"unit":"mg","system":"http://unitsofmeasure.org","code":"mg"}}})");
    }
  auto r = test::evaluate(lines, "2026-11-26");
  BOOST_TEST(outcome_of(r["p"], "E-SLN") == "met");
}

// rank_all orders by tier, then score (higher first), then patient id, moving each outcome once; ranks count
// the candidates only; it tells where each outcome was. Checked against a plain sort on shuffled outcomes
// with many equal scores.
BOOST_AUTO_TEST_CASE(rank_all_orders_like_a_plain_sort) {
  std::vector<ranking::PatientOutcome> v;
  std::uint64_t x = 88172645463325252ULL;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < 3000; ++i) {
    ranking::PatientOutcome o;
    o.patient_id = "p" + std::to_string(next() % 100000);
    if (i % 7 == 0) o.patient_id = "p" + std::to_string(i);
    const auto t = next() % 3;
    o.tier = t == 0 ? ranking::Tier::eligible : t == 1 ? ranking::Tier::possible : ranking::Tier::ineligible;
    o.score = static_cast<double>(next() % 20);
    o.check_next = {o.patient_id + " " + std::to_string(o.score)};  // travels with its outcome
    v.push_back(std::move(o));
  }
  const auto before = v;
  auto want = v;
  auto order = [](ranking::Tier t) {
    return t == ranking::Tier::eligible ? 0 : t == ranking::Tier::possible ? 1 : 2;
  };
  std::stable_sort(want.begin(), want.end(), [&](const auto& a, const auto& b) {
    if (order(a.tier) != order(b.tier)) return order(a.tier) < order(b.tier);
    if (a.score != b.score) return a.score > b.score;
    return a.patient_id < b.patient_id;
  });
  const std::vector<std::size_t> was = ranking::rank_all(v);
  BOOST_TEST_REQUIRE(v.size() == want.size());
  BOOST_TEST_REQUIRE(was.size() == v.size());
  std::vector<char> seen(v.size(), 0);
  int rank = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    // Where each came from (the run finds an ineligible patient's results line by it).
    BOOST_TEST_REQUIRE(was[i] < before.size());
    BOOST_TEST(!seen[was[i]]);
    seen[was[i]] = 1;
    BOOST_TEST(before[was[i]].check_next == v[i].check_next);
    BOOST_TEST(v[i].patient_id == want[i].patient_id);
    BOOST_TEST(v[i].score == want[i].score);
    BOOST_TEST(v[i].check_next == want[i].check_next);
    BOOST_TEST(v[i].rank == (v[i].tier == ranking::Tier::ineligible ? 0 : ++rank));
  }
}
