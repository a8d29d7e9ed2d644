// De-identification with canaries: a patient whose name, identifier, birth date, address, phone, free text
// and clinical dates are unique strings goes through the real source, mappings and engine; every output of a
// de-identified export (candidates.csv, results.ndjson, attrition.csv, data_issues.ndjson, manifest.json,
// report.html, the Group) is then scanned for each of them. The identified export must contain them (else the
// scan proves nothing), and the limited export must drop the name, address and phone but keep the id.
#include <boost/test/unit_test.hpp>

#include "core/text.hpp"
#include "demo.hpp"
#include "report/fhir_group.hpp"
#include "report/html_report.hpp"
#include "report/privacy.hpp"

using namespace cf;

namespace {

const std::string kId = "canary-pat-7731";
const std::vector<std::string> kIdentity = {"Quixotewobble", "Zebediah", "MRN-CANARY-558811", "Canaryfield",
                                            "Ravenholt",     "CN9 4ZZ",  "7700 900123"};
// Every clinical date of the canary, at least 60 days apart so that no shifted date can land on another one.
const std::vector<std::string> kDates = {"1971-04-13", "2018-02-11", "2025-07-07", "2025-10-01",
                                         "2026-02-01", "2026-05-10", "2026-09-01"};

std::string obs(const std::string& id, const std::string& loinc, const std::string& display,
                const std::string& day, const std::string& value) {
  return R"({"resourceType":"Observation","id":")" + id + R"(","meta":{"versionId":"2","lastUpdated":")" +
         day + R"(T12:00:00Z"},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":")" +
         loinc + R"(","display":")" + display + R"("}]},"subject":{"reference":"Patient/)" + kId +
         R"("},"effectiveDateTime":")" + day + R"(T09:15:00+02:00",)" + value +
         R"(,"note":[{"text":"reviewed with Zebediah Quixotewobble"}]})";
}
std::string qty(const std::string& v, const std::string& unit) {
  return R"("valueQuantity":{"value":)" + v + R"(,"unit":")" + unit +
         R"(","system":"http://unitsofmeasure.org","code":")" + unit + "\"}";
}

std::vector<std::string> canary_resources() {
  const std::string high =
      R"(,"interpretation":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation","code":"H"}]}])";
  return {
      R"({"resourceType":"Patient","id":")" + kId +
          R"(","meta":{"versionId":"3","lastUpdated":"2025-07-07T02:00:00Z"},)"
          R"("identifier":[{"system":"http://hospital.example.org/fhir/sid/mrn","value":"MRN-CANARY-558811"}],)"
          R"("name":[{"use":"official","family":"Quixotewobble","given":["Zebediah"]}],)"
          R"("telecom":[{"system":"phone","value":"+44 7700 900123"}],"gender":"female","birthDate":"1971-04-13",)"
          R"("address":[{"line":["42 Canaryfield Lane"],"city":"Ravenholt","postalCode":"CN9 4ZZ"}]})",
      R"({"resourceType":"Condition","id":"canary-cond-1","meta":{"versionId":"1","lastUpdated":"2018-02-11T12:00:00Z"},)"
      R"("clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},)"
      R"("verificationStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-ver-status","code":"confirmed"}]},)"
      R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"55464009","display":"SLE per Dr Quixotewobble"}],)"
      R"("text":"Zebediah's lupus"},"subject":{"reference":"Patient/)" +
          kId +
          R"("},"onsetDateTime":"2018-02-11",)"
          R"("note":[{"text":"Zebediah Quixotewobble, MRN-CANARY-558811, 42 Canaryfield Lane, Ravenholt"}]})",
      obs("canary-obs-ana", "5048-4", "ANA titre for Quixotewobble", "2026-09-01",
          R"("valueString":"1:320")"),
      obs("canary-obs-dsdna", "5130-0", "anti-dsDNA", "2026-09-01", qty("85", "IU/mL") + high),
      obs("canary-obs-cr1", "2160-0", "Creatinine", "2026-09-01", qty("0.9", "mg/dL")),
      obs("canary-obs-cr2", "2160-0", "Creatinine", "2026-05-10", qty("1.1", "mg/dL")),
      obs("canary-obs-cr3", "2160-0", "Creatinine", "2026-02-01", qty("3.1", "mg/dL")),
      obs("canary-obs-iga", "2458-8", "IgA", "2025-10-01", qty("220", "mg/dL")),
      obs("canary-obs-hbs", "5196-1", "HBsAg", "2026-05-10",
          R"("valueString":"negative - phoned Zebediah Quixotewobble on +44 7700 900123")"),
      // A drug no mapping identifies, named in free text: listed by code alone in a de-identified export.
      R"({"resourceType":"MedicationRequest","id":"canary-med","status":"active","intent":"order",)"
      R"("subject":{"reference":"Patient/)" +
          kId +
          R"("},"authoredOn":"2026-10-01","medicationCodeableConcept":)"
          R"({"coding":[{"system":"urn:oid:1.2.156.999.1","code":"XS-500"}],"text":"Zebediah Quixotewobble's own tablets"}})",
  };
}

struct Export {
  std::vector<std::pair<std::string, std::string>> files;  // name, content
};

Export write_all(const test::Run& run, const std::vector<DataIssue>& issues, report::ExportMode mode,
                 const report::PrivacyKey* key) {
  const auto& trial = test::nct();
  const auto outcomes = report::apply_privacy(run.outcomes, mode, key, &trial, parse_iso_day("2026-11-26"));
  const auto info = report::apply_privacy(run.info, mode, key);
  const auto iss = report::apply_privacy(issues, mode, key);
  return {{{"candidates.csv", report::candidates_csv(outcomes)},
           {"results.ndjson", report::results_ndjson(trial, outcomes)},
           {"attrition.csv", report::attrition_csv(trial, outcomes)},
           {"data_issues.ndjson", report::issues_ndjson(iss)},
           {"manifest.json", report::manifest_json(trial, info, outcomes, {{"candidates.csv", {}}})},
           {"report.html", report::html_report(trial, info, outcomes, mode)},
           {"group.json", report::fhir_group_json(trial, info, outcomes, mode, key)}}};
}

bool contains(const std::string& hay, const std::string& needle) {
  return to_lower_ascii(hay).find(to_lower_ascii(needle)) != std::string::npos;
}

struct Canary {
  test::TempDir dir;
  test::Run run;
  std::vector<DataIssue> issues;
  Canary() {
    std::string text;
    for (const auto& r : canary_resources()) text += r + "\n";
    dir.write("export-Quixotewobble.ndjson", text);
    source::FileSource src(dir.path);
    run = test::run_records(src, "2026-11-26");
    run.info.incomplete = {"Procedure (patient " + kId + ")"};
    issues = {{Severity::warning, "unit-unconvertible", "export-Quixotewobble.ndjson:4",
               "Observation/canary-obs-cr1", "Observation.valueQuantity.unit",
               "unit of Zebediah Quixotewobble's creatinine"}};
  }
};

}  // namespace

BOOST_FIXTURE_TEST_CASE(deidentified_outputs_hold_no_canary, Canary) {
  BOOST_TEST_REQUIRE(run.outcomes.size() == 1u);
  BOOST_TEST_REQUIRE((run.outcomes[0].tier != ranking::Tier::ineligible),
                     "the canary is a candidate, so every writer shows it");

  // The identified export carries the canaries: the scan below is not vacuous.
  const Export id = write_all(run, issues, report::ExportMode::identified, nullptr);
  std::string all_identified;
  for (const auto& [name, text] : id.files) all_identified += text;
  for (const auto& c : {kId, std::string("Quixotewobble"), std::string("Zebediah"), std::string("1971-04-13"),
                        std::string("2026-09-01"), std::string("2026-02-01")})
    BOOST_TEST(contains(all_identified, c), "identified export contains " << c);

  const auto key = *report::PrivacyKey::from_secret("canary test key: 0123456789abcdef0123456789");
  const Export de = write_all(run, issues, report::ExportMode::deidentified, &key);
  std::vector<std::string> canaries = kIdentity;
  canaries.push_back(kId);
  canaries.push_back("canary-obs");  // resource ids are pseudonymised too (they often embed the patient id)
  canaries.insert(canaries.end(), kDates.begin(), kDates.end());
  int leaks = 0;
  for (const auto& [name, text] : de.files)
    for (const auto& c : canaries)
      if (contains(text, c)) {
        ++leaks;
        BOOST_TEST_MESSAGE(name << " contains '" << c << "'");
      }
  BOOST_TEST(leaks == 0);
  // ...and still says something: the pseudonym, the tier and the shifted lab dates are there.
  const std::string pseudonym = key.pseudonym(kId);
  for (const auto& [name, text] : de.files)
    if (name != "attrition.csv" && name != "manifest.json" && name != "data_issues.ndjson")
      BOOST_TEST(text.find(pseudonym) != std::string::npos, name << " lists the pseudonym");
  const std::string html = de.files[5].second;
  BOOST_TEST(html.find("data-patient=\"" + pseudonym + "\"") != std::string::npos);
  BOOST_TEST(html.find(report::shift_date_text("2026-09-01", key.day_offset(kId))) != std::string::npos);
  BOOST_TEST(html.find("<svg class=\"trend\"") != std::string::npos);
}

BOOST_FIXTURE_TEST_CASE(limited_outputs_drop_names_and_addresses, Canary) {
  const Export lim = write_all(run, issues, report::ExportMode::limited, nullptr);
  for (const auto& [name, text] : lim.files) {
    // A phone number typed into a result's text stays: only de-identification removes free text.
    for (const char* c : {"Canaryfield", "Ravenholt", "CN9 4ZZ", "MRN-CANARY-558811"})
      BOOST_TEST(!contains(text, c), name << " contains " << c);
    // Names: the Patient's are dropped; free text in values and notes is not removed in a limited export.
    if (name == "report.html" || name == "candidates.csv" || name == "group.json")
      BOOST_TEST(text.find("Quixotewobble, Zebediah") == std::string::npos, name);
  }
  BOOST_TEST(lim.files[0].second.find(kId) != std::string::npos, "ids stay in a limited data set");
}

namespace {

// Every day within `days` of a canary date, as YYYY-MM-DD: a shifted or partly kept date would be one of
// them.
std::vector<std::string> days_around(const std::vector<std::string>& dates, int days) {
  std::vector<std::string> out;
  for (const auto& d : dates) {
    const Days day = *parse_iso_day(d);
    for (int k = -days; k <= days; ++k) out.push_back(format_day(day + k));
  }
  return out;
}

}  // namespace

BOOST_FIXTURE_TEST_CASE(safe_harbor_outputs_keep_years_and_no_day_or_month, Canary) {
  const auto key = *report::PrivacyKey::from_secret("canary test key: 0123456789abcdef0123456789");
  const Export sh = write_all(run, issues, report::ExportMode::safe_harbor, &key);
  std::vector<std::string> canaries = kIdentity;
  canaries.push_back(kId);
  canaries.push_back("canary-obs");
  // No day of the patient's, shifted or not, and no year-month of one.
  for (const auto& d : days_around(kDates, 31)) {
    canaries.push_back(d);
    canaries.push_back(d.substr(0, 7) + "\"");  // "2026-09" written as a partial date
  }
  int leaks = 0;
  for (const auto& [name, text] : sh.files)
    for (const auto& c : canaries)
      if (contains(text, c)) {
        ++leaks;
        BOOST_TEST_MESSAGE(name << " contains '" << c << "'");
      }
  BOOST_TEST(leaks == 0);
  // What stays: the pseudonym, the years of the results and of the birth date (the canary is 55), and the
  // values; no trend charts (their points are days), and the page says why.
  const std::string& csv = sh.files[0].second;
  const std::string& results = sh.files[1].second;
  const std::string& html = sh.files[5].second;
  BOOST_TEST(csv.find(key.pseudonym(kId)) != std::string::npos);
  BOOST_TEST(results.find("\"original\":\"1971\"") != std::string::npos, "the age criterion's birth year");
  BOOST_TEST(results.find("\"date\":\"2026\"") != std::string::npos);
  BOOST_TEST(results.find("\"series\"") == std::string::npos);
  BOOST_TEST(html.find("<svg class=\"trend\"") == std::string::npos);
  BOOST_TEST(html.find("HIPAA Safe Harbor") != std::string::npos);
  BOOST_TEST(html.find("withheld") != std::string::npos, "the score is withheld");
}

BOOST_AUTO_TEST_CASE(safe_harbor_withholds_the_birth_year_of_anyone_who_may_be_over_89) {
  // Ineligible patients (too old) still appear in results.ndjson with their age criterion.
  test::TempDir dir;
  dir.write("old.ndjson",
            std::string(R"({"resourceType":"Patient","id":"born-1931","birthDate":"1931"})") + "\n" +
                R"({"resourceType":"Patient","id":"age-90","birthDate":"1936-11-26"})" + "\n" +
                R"({"resourceType":"Patient","id":"age-89-born-1936","birthDate":"1936-11-27"})" + "\n" +
                R"({"resourceType":"Patient","id":"age-89-born-1937","birthDate":"1937-01-01"})" + "\n");
  source::FileSource src(dir.path);
  const auto run = test::run_records(src, "2026-11-26");
  BOOST_TEST_REQUIRE(run.outcomes.size() == 4u);
  const auto key = *report::PrivacyKey::from_secret("canary test key: 0123456789abcdef0123456789");
  const auto& trial = test::nct();
  const auto identified = report::results_ndjson(trial, run.outcomes);
  BOOST_TEST(identified.find("\"1931\"") != std::string::npos, "the identified export has it: not vacuous");
  const auto shown = report::apply_privacy(run.outcomes, report::ExportMode::safe_harbor, &key, &trial,
                                           parse_iso_day("2026-11-26"));
  const auto results = report::results_ndjson(trial, shown);
  for (const char* year : {"1931", "1936"}) BOOST_TEST(results.find(year) == std::string::npos, year);
  BOOST_TEST(results.find("\"1937\"") != std::string::npos, "89 at most: the year stays");
  BOOST_TEST(results.find("90+ years") != std::string::npos);
  BOOST_TEST(results.find("94") == std::string::npos);
  for (const auto& o : shown) BOOST_TEST((o.birth_date.empty() || o.birth_date == "1937"), o.birth_date);
}
