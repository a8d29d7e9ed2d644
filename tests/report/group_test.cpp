// The FHIR R4 Group: structure, member order and extensions, literal references, and R4 JSON rules (no empty
// strings, arrays or objects, no nulls, valid ids) on the demo run, identified and de-identified.
#include <boost/test/unit_test.hpp>

#include <set>

#include "core/text.hpp"
#include "demo.hpp"
#include "fhir/extract.hpp"
#include "json/json.hpp"
#include "report/fhir_group.hpp"

using namespace cf;

namespace {

std::string str(const json::Value* v) {
  return std::string(json::string(v).value_or(""));
}

// R4 JSON: "" , [] and {} are not allowed, nor null outside arrays of primitives (which a Group has none of).
void check_no_empties(const json::Value& v, const std::string& path, int& problems) {
  auto problem = [&](const char* what) {
    ++problems;
    BOOST_TEST_MESSAGE(what << " at " << path);
  };
  if (v.IsString() && v.GetStringLength() == 0) problem("empty string");
  if (v.IsNull()) problem("null");
  if (v.IsArray()) {
    if (v.Empty()) problem("empty array");
    std::size_t i = 0;
    for (const auto& x : v.GetArray()) check_no_empties(x, path + "[" + std::to_string(i++) + "]", problems);
  }
  if (v.IsObject()) {
    if (v.MemberCount() == 0) problem("empty object");
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m)
      check_no_empties(m->value, path + "." + m->name.GetString(), problems);
  }
}

const json::Value* extension(const json::Value& member, const std::string& name, int& count) {
  const json::Value* found = nullptr;
  count = 0;
  json::for_each(json::member(member, "extension"), [&](std::size_t, const json::Value& e) {
    if (str(json::member(e, "url")) != std::string(report::kExtensionBase) + name) return;
    found = &e;
    ++count;
  });
  return found;
}

// Type/id or Type/id/_history/version, as an R4 literal reference.
bool literal_reference(const std::string& ref) {
  const auto parts = split(ref, '/');
  if (parts.size() != 2 && !(parts.size() == 4 && parts[2] == "_history" && fhir::valid_id(parts[3])))
    return false;
  if (parts[0].empty() || parts[0][0] < 'A' || parts[0][0] > 'Z') return false;
  for (char c : parts[0])
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  return fhir::valid_id(parts[1]);
}

json::Document parse(const std::string& text) {
  json::Document d;
  json::ParseError e;
  BOOST_TEST_REQUIRE(json::parse(text, d, e), e.message);
  return d;
}

}  // namespace

BOOST_AUTO_TEST_CASE(group_of_the_demo_candidates) {
  const auto& run = test::demo();
  const auto d = parse(
      report::fhir_group_json(test::nct(), run.info, run.outcomes, report::ExportMode::identified, nullptr));
  BOOST_TEST(str(json::member(d, "resourceType")) == "Group");
  BOOST_TEST(str(json::member(d, "id")) == "cohort-nct07177911");
  BOOST_TEST(fhir::valid_id(str(json::member(d, "id"))));
  BOOST_TEST(str(json::member(d, "type")) == "person");
  BOOST_TEST(json::boolean(json::member(d, "actual")).value_or(false));
  BOOST_TEST(str(json::member(json::member(d, "text"), "div"))
                 .rfind("<div xmlns=\"http://www.w3.org/1999/xhtml\">", 0) == 0u);
  int problems = 0;
  check_no_empties(d, "Group", problems);
  BOOST_TEST(problems == 0);

  std::vector<const ranking::PatientOutcome*> want;
  for (const auto& o : run.outcomes)
    if (o.tier != ranking::Tier::ineligible) want.push_back(&o);
  BOOST_TEST(json::number_text(json::member(d, "quantity")).value_or("") == std::to_string(want.size()));
  const json::Value* members = json::member(d, "member");
  BOOST_TEST_REQUIRE(json::is_array(members));
  BOOST_TEST_REQUIRE(members->Size() == want.size());
  std::set<std::string> cc009_refs;
  json::for_each(members, [&](std::size_t i, const json::Value& m) {
    const auto& o = *want[i];
    BOOST_TEST_CONTEXT(o.patient_id) {
      BOOST_TEST(str(json::member(json::member(m, "entity"), "reference")) == "Patient/" + o.patient_id);
      int n = 0;
      BOOST_TEST(str(json::member(extension(m, "candidate-tier", n), "valueCode")) ==
                 ranking::to_string(o.tier));
      BOOST_TEST(n == 1);
      BOOST_TEST(json::number_text(json::member(extension(m, "candidate-rank", n), "valuePositiveInt"))
                     .value_or("") == std::to_string(i + 1));
      BOOST_TEST(n == 1);
      BOOST_TEST(std::stod(std::string(
                     json::number_text(json::member(extension(m, "candidate-score", n), "valueDecimal"))
                         .value_or("0"))) == o.score);
      std::set<std::string> refs;
      json::for_each(json::member(m, "extension"), [&](std::size_t, const json::Value& e) {
        if (str(json::member(e, "url")) != std::string(report::kExtensionBase) + "candidate-evidence") return;
        const std::string ref = str(json::member(json::member(e, "valueReference"), "reference"));
        BOOST_TEST(literal_reference(ref), ref);
        BOOST_TEST(refs.insert(ref).second, "listed once: " << ref);
      });
      BOOST_TEST(!refs.empty());
      if (o.patient_id == "cc-009") cc009_refs = refs;
    }
  });
  BOOST_TEST(cc009_refs.count("Observation/cc-009-obs-7/_history/1") == 1u, "the creatinine behind E-SLN");
  BOOST_TEST(cc009_refs.count("Condition/cc-009-cond-1/_history/1") == 1u);
}

BOOST_AUTO_TEST_CASE(deidentified_group_matches_the_other_outputs) {
  const auto& run = test::demo();
  const auto key = *report::PrivacyKey::from_secret("group test key, thirty-two bytes or more");
  const auto de = report::apply_privacy(run.outcomes, report::ExportMode::deidentified, &key, &test::nct());
  const std::string from_raw =
      report::fhir_group_json(test::nct(), run.info, run.outcomes, report::ExportMode::deidentified, &key);
  const std::string from_de =
      report::fhir_group_json(test::nct(), run.info, de, report::ExportMode::deidentified, &key);
  BOOST_TEST(from_raw == from_de, "raw or already de-identified outcomes give the same Group");
  BOOST_TEST(from_raw.find("cc-0") == std::string::npos);
  const auto d = parse(from_raw);
  BOOST_TEST(str(json::member(d, "id")) == "cohort-nct07177911-deid");
  const json::Value* first = json::member(d, "member")->Begin();
  BOOST_TEST(str(json::member(json::member(first, "entity"), "reference")) ==
             "Patient/" + de.front().patient_id);
  int n = 0;
  BOOST_TEST(!extension(*first, "candidate-score", n), "the score is withheld");
  BOOST_TEST(json::number_text(json::member(extension(*first, "candidate-rank", n), "valuePositiveInt"))
                 .value_or("") == "1");
  int problems = 0;
  check_no_empties(d, "Group", problems);
  BOOST_TEST(problems == 0);
}

BOOST_AUTO_TEST_CASE(group_ids_are_valid_for_any_trial_id) {
  criteria::Trial t;
  t.id = "NCT 123/x_y";
  BOOST_TEST(report::group_id(t, report::ExportMode::limited) == "cohort-nct-123-x-y-limited");
  t.id = std::string(100, 'A');
  BOOST_TEST(fhir::valid_id(report::group_id(t, report::ExportMode::deidentified)));
  BOOST_TEST(report::group_id(t, report::ExportMode::deidentified).size() == 64u);
}

BOOST_AUTO_TEST_CASE(no_candidates_means_no_member_array) {
  const auto& run = test::demo();
  std::vector<ranking::PatientOutcome> none;
  for (const auto& o : run.outcomes)
    if (o.tier == ranking::Tier::ineligible) none.push_back(o);
  const auto d =
      parse(report::fhir_group_json(test::nct(), run.info, none, report::ExportMode::identified, nullptr));
  BOOST_TEST(!json::member(d, "member"));
  BOOST_TEST(json::number_text(json::member(d, "quantity")).value_or("") == "0");
}
