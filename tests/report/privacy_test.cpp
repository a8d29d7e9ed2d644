// Export modes: HMAC-SHA256 against RFC 4231, pseudonyms and date offsets, the key file, date shifting, and
// what apply_privacy() does to the demo run (ranking untouched, every date of a patient moved by the same
// offset).
#define BOOST_TEST_MODULE report
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <set>
#include <sstream>

#include "core/text.hpp"
#include "demo.hpp"
#include "fhir/extract.hpp"
#include "json/json.hpp"
#include "report/html_report.hpp"
#include "report/privacy.hpp"

using namespace cf;
namespace bdata = boost::unit_test::data;

namespace {

std::string hex_of(const std::string& bytes) {
  return hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

report::PrivacyKey test_key(const std::string& secret = "0123456789abcdef0123456789abcdef-test") {
  return *report::PrivacyKey::from_secret(secret);
}

struct HmacCase {
  std::string key, data, mac;
};
std::ostream& operator<<(std::ostream& os, const HmacCase& c) {
  return os << c.mac.substr(0, 12);
}

// RFC 4231 section 4, test cases 1-7 (case 5 compares the first 128 bits, as the RFC does).
const std::vector<HmacCase> kRfc4231 = {
    {std::string(20, '\x0b'), "Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"Jefe", "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {std::string(20, '\xaa'), std::string(50, '\xdd'),
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19",
     std::string(50, '\xcd'), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {std::string(20, '\x0c'), "Test With Truncation", "a3b6167473100ee06e0c796c2955552b"},
    {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
    {std::string(131, '\xaa'),
     "This is a test using a larger than block-size key and a larger than block-size data. The key needs to "
     "be "
     "hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

struct ShiftCase {
  std::string in;
  int days;
  std::string out;
};
std::ostream& operator<<(std::ostream& os, const ShiftCase& c) {
  return os << c.in << " " << c.days;
}

const std::vector<ShiftCase> kShifts = {
    {"2026-11-10T08:30:00+08:00", 5, "2026-11-15T08:30:00+08:00"},  // time and zone kept as written
    {"2026-11-20T02:00:00Z", -3, "2026-11-17T02:00:00Z"},
    {"2024-02-28", 1, "2024-02-29"},
    {"2026-12-31", 1, "2027-01-01"},
    {"2026-03-01", -1, "2026-02-28"},
    {"1990", -30, "1990"},  // year precision: the midpoint moves, the year stays
    {"1990", 30, "1990"},
    {"2026-03", 30, "2026-04"},
    {"2026-03", -30, "2026-02"},
    {"not a date", 3, ""},
    {"2023-02-30", 1, ""},
    {"", 1, ""},
};

}  // namespace

BOOST_DATA_TEST_CASE(hmac_sha256_matches_rfc_4231, bdata::make(kRfc4231), c) {
  BOOST_TEST(hex_of(report::hmac_sha256(c.key, c.data)).substr(0, c.mac.size()) == c.mac);
}

BOOST_AUTO_TEST_CASE(sha256_digest_is_raw_bytes) {
  BOOST_TEST(hex_of(report::sha256_digest("abc")) ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_DATA_TEST_CASE(dates_shift_keeping_precision, bdata::make(kShifts), c) {
  BOOST_TEST(report::shift_date_text(c.in, c.days) == c.out);
}

BOOST_AUTO_TEST_CASE(pseudonyms_are_keyed_stable_valid_and_recognisable) {
  const auto k = test_key(), other = test_key("another key of at least thirty-two bytes!");
  const std::string p = k.pseudonym("cc-001");
  BOOST_TEST(p == k.pseudonym("cc-001"));
  BOOST_TEST(p != k.pseudonym("cc-002"));
  BOOST_TEST(p != other.pseudonym("cc-001"));
  BOOST_TEST(fhir::valid_id(p));
  BOOST_TEST(report::looks_like_pseudonym(p));
  BOOST_TEST(k.is_pseudonym(p));
  BOOST_TEST(!other.is_pseudonym(p));
  BOOST_TEST(!k.is_pseudonym("cc-001"));
  BOOST_TEST(
      !k.is_pseudonym("pt-00000000000000000000"
                      "00000000"));  // right shape, wrong tag
  BOOST_TEST(k.pseudonym_reference("Patient/cc-001") == "Patient/" + p);
  const std::string r = k.pseudonym_reference("Observation/cc-001-obs-7");
  BOOST_TEST(r.rfind("Observation/r-", 0) == 0u);
  BOOST_TEST(fhir::valid_id(r.substr(12)));
  BOOST_TEST(r.find("cc-001") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(day_offsets_are_never_zero_and_cover_both_directions) {
  const auto k = test_key();
  std::set<int> seen;
  for (int i = 0; i < 600; ++i) {
    const int d = k.day_offset("patient-" + std::to_string(i));
    BOOST_TEST((d >= -30 && d <= 30 && d != 0), d);
    seen.insert(d);
  }
  BOOST_TEST(seen.size() == 60u, "all 60 offsets occur");
  BOOST_TEST(k.day_offset("cc-001") == k.day_offset("cc-001"));
}

BOOST_AUTO_TEST_CASE(key_file_is_read_trimmed_and_checked) {
  test::TempDir dir;
  dir.write("good", std::string(44, 'k') + "\n");
  dir.write("short", "too short\n");
  dir.write("shared", std::string(44, 'k') + "\n");
  for (const char* f : {"good", "short"})
    std::filesystem::permissions(dir.path / f,
                                 std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::filesystem::permissions(dir.path / "shared", std::filesystem::perms::owner_read |
                                                        std::filesystem::perms::owner_write |
                                                        std::filesystem::perms::others_read);
  auto good = report::read_privacy_key(dir.path / "good");
  BOOST_TEST_REQUIRE(good.ok());
  BOOST_TEST(good->pseudonym("x") == test_key(std::string(44, 'k')).pseudonym("x"),
             "the newline is not key material");
  auto shrt = report::read_privacy_key(dir.path / "short");
  BOOST_TEST_REQUIRE(!shrt.ok());
  BOOST_TEST(shrt.error().message.find("at least 32") != std::string::npos);
  BOOST_TEST(!report::read_privacy_key(dir.path / "missing").ok());
  auto shared = report::read_privacy_key(dir.path / "shared");  // RELIABILITY H2
  BOOST_TEST_REQUIRE(!shared.ok());
  BOOST_TEST(shared.error().message.find("can be read or changed by other users") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(export_modes_parse) {
  BOOST_TEST((report::parse_export_mode("limited") == report::ExportMode::limited));
  BOOST_TEST((report::parse_export_mode("safe-harbor") == report::ExportMode::safe_harbor));
  BOOST_TEST(!report::parse_export_mode("anonymous").has_value());
  BOOST_TEST(std::string(report::to_string(report::ExportMode::deidentified)) == "deidentified");
  BOOST_TEST(std::string(report::to_string(report::ExportMode::safe_harbor)) == "safe-harbor");
  BOOST_TEST(report::pseudonymised(report::ExportMode::safe_harbor));
  BOOST_TEST(!report::pseudonymised(report::ExportMode::limited));
}

BOOST_AUTO_TEST_CASE(safe_harbor_keeps_years_only) {
  BOOST_TEST(report::year_of_date_text("2024-03-01") == "2024");
  BOOST_TEST(report::year_of_date_text("2024-03-01T00:30:00+14:00") == "2024");  // as written
  BOOST_TEST(report::year_of_date_text("2024-07") == "2024");
  BOOST_TEST(report::year_of_date_text("1931") == "1931");
  BOOST_TEST(report::year_of_date_text("1:320").empty());
  BOOST_TEST(report::year_of_date_text("").empty());
}

BOOST_AUTO_TEST_CASE(safe_harbor_age_rule_judges_the_published_year) {
  const Days as_of = *parse_iso_day("2026-11-26");
  // Born in 1937: at most 89 on the as-of date, whatever the day.
  BOOST_TEST(!report::may_be_over_89("1937-01-01", as_of));
  BOOST_TEST(!report::may_be_over_89("1937", as_of));
  BOOST_TEST(!report::may_be_over_89("1990-05-05", as_of));
  // Born in 1936: 89 or 90, so the year itself may reveal an age over 89, even for someone aged 89.
  BOOST_TEST(report::may_be_over_89("1936-11-27", as_of));  // 89 on the as-of date
  BOOST_TEST(report::may_be_over_89("1936-11-26", as_of));  // 90 on the as-of date
  BOOST_TEST(report::may_be_over_89("1931", as_of));        // partial: 94 or 95
  // What cannot be judged is withheld.
  BOOST_TEST(report::may_be_over_89("sometime in the thirties", as_of));
  BOOST_TEST(report::may_be_over_89("1990-05-05", std::nullopt));
  BOOST_TEST(!report::may_be_over_89("", as_of));  // nothing to withhold
}

BOOST_AUTO_TEST_CASE(safe_harbor_caps_ages_over_89) {
  BOOST_TEST(report::cap_ages("94 years on [date]") == "90+ years on [date]");
  BOOST_TEST(report::cap_ages("90 years on [date]") == "90+ years on [date]");
  BOOST_TEST(report::cap_ages("89 years on [date]") == "89 years on [date]");
  BOOST_TEST(report::cap_ages("89-90 years on [date]") == "90+ years on [date]");
  BOOST_TEST(report::cap_ages("64-65 years") == "64-65 years");
  BOOST_TEST(report::cap_ages("120 years") == "90+ years");
  BOOST_TEST(report::cap_ages("creatinine 95 umol/L") == "creatinine 95 umol/L");  // not an age
  BOOST_TEST(report::cap_ages("") == "");
}

BOOST_AUTO_TEST_CASE(deidentified_demo_keeps_the_ranking_and_shifts_each_patient_consistently) {
  const auto& raw = test::demo().outcomes;
  const auto k = test_key();
  const auto de = report::apply_privacy(raw, report::ExportMode::deidentified, &k, &test::nct());
  BOOST_TEST_REQUIRE(de.size() == raw.size());
  std::set<std::string> ids;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto &a = raw[i], &b = de[i];
    BOOST_TEST_CONTEXT(a.patient_id) {
      BOOST_TEST(b.patient_id == k.pseudonym(a.patient_id));
      ids.insert(b.patient_id);
      BOOST_TEST((a.tier == b.tier && a.rank == b.rank && b.score == 0 && a.in_favour == b.in_favour &&
                  a.unknown == b.unknown && a.against == b.against && a.manual == b.manual));
      BOOST_TEST(a.deciding == b.deciding, boost::test_tools::per_element());
      for (std::size_t c = 0; c < a.results.size(); ++c) {
        BOOST_TEST((a.results[c].outcome == b.results[c].outcome));
        BOOST_TEST(b.results[c].reason.empty());
        for (const auto& e : b.results[c].evidence) BOOST_TEST((e.note.empty() && e.location.empty()));
      }
      BOOST_TEST(b.name.empty());
      const int off = k.day_offset(a.patient_id);
      BOOST_TEST_REQUIRE(a.series.size() == b.series.size());
      for (std::size_t s = 0; s < a.series.size(); ++s) BOOST_TEST(b.series[s].day - a.series[s].day == off);
      if (a.birth_date.size() == 10) BOOST_TEST(b.birth_date == report::shift_date_text(a.birth_date, off));
      for (const auto& c : b.check_next) {
        const auto* cr = &test::nct().criteria.front();
        for (const auto& x : test::nct().criteria)
          if (c.rfind(x.id + ": ", 0) == 0) cr = &x;
        BOOST_TEST(c == cr->id + ": " + (cr->check_next.empty() ? cr->label : cr->check_next),
                   "from the definition");
      }
    }
  }
  BOOST_TEST(ids.size() == raw.size(), "pseudonyms are unique");
  // Idempotent, so writers that re-apply it (the Group) agree with the others.
  const auto twice = report::apply_privacy(de, report::ExportMode::deidentified, &k, &test::nct());
  BOOST_TEST(report::results_ndjson(test::nct(), twice) == report::results_ndjson(test::nct(), de));
  // The existing writers take the result as is, and no demo id ("cc-0NN", also inside resource ids) survives.
  for (const auto& text : {report::candidates_csv(de), report::results_ndjson(test::nct(), de),
                           report::attrition_csv(test::nct(), de)})
    BOOST_TEST(text.find("cc-0") == std::string::npos);
  BOOST_TEST(report::attrition_csv(test::nct(), de) == report::attrition_csv(test::nct(), raw));
}

BOOST_AUTO_TEST_CASE(limited_drops_names_only) {
  const auto& raw = test::demo().outcomes;
  const auto lim = report::apply_privacy(raw, report::ExportMode::limited, nullptr);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    BOOST_TEST(lim[i].name.empty());
    BOOST_TEST(lim[i].patient_id == raw[i].patient_id);
    BOOST_TEST(lim[i].birth_date == raw[i].birth_date);
  }
  BOOST_TEST(!raw.front().name.empty(), "the demo has names to drop");
}

BOOST_AUTO_TEST_CASE(run_info_and_issues_are_deidentified) {
  const auto k = test_key();
  report::RunInfo info;
  info.incomplete = {"Observation (all patients)", "Condition (patient cc-012)"};
  info = report::apply_privacy(info, report::ExportMode::deidentified, &k);
  BOOST_TEST(info.incomplete[0] == "Observation (all patients)");
  BOOST_TEST(info.incomplete[1] == "Condition (patient " + k.pseudonym("cc-012") + ")");
  std::vector<DataIssue> issues{{Severity::warning, "unit-unconvertible", "/data/cc-012.ndjson:3",
                                 "Observation/cc-012-obs-1", "Observation.valueQuantity.unit",
                                 "mg% for cc-012"}};
  issues = report::apply_privacy(issues, report::ExportMode::deidentified, &k);
  BOOST_TEST(report::issues_ndjson(issues).find("cc-012") == std::string::npos);
  BOOST_TEST(issues[0].kind == "unit-unconvertible");
  BOOST_TEST(issues[0].path == "Observation.valueQuantity.unit");
}

// The chart thresholds are constants (the compiled trial hides them): they must equal the definition's tests.
BOOST_AUTO_TEST_CASE(chart_thresholds_match_the_trial_definition) {
  json::Document d;
  json::ParseError e;
  BOOST_TEST_REQUIRE(json::parse(test::read_text(test::repo() / "mappings/trials/nct07177911.json"), d, e));
  struct Found {
    std::string criterion, op, value, unit;
  };
  std::map<std::string, std::vector<Found>> tests;  // concept -> comparisons in the definition
  std::function<void(const std::string&, const json::Value&)> walk = [&](const std::string& crit,
                                                                         const json::Value& v) {
    if (v.IsArray()) {
      for (const auto& x : v.GetArray()) walk(crit, x);
      return;
    }
    if (!v.IsObject()) return;
    if (const json::Value* o = json::member(v, "observation")) {
      const json::Value* t = json::member(o, "test");
      if (json::member(t, "op"))
        tests[std::string(json::string(json::member(o, "concept")).value_or(""))].push_back(
            {crit, std::string(json::string(json::member(t, "op")).value_or("")),
             std::string(json::string(json::member(t, "value")).value_or("")),
             std::string(json::string(json::member(t, "unit")).value_or(""))});
    }
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) walk(crit, m->value);
  };
  json::for_each(json::member(d, "criteria"), [&](std::size_t, const json::Value& c) {
    walk(std::string(json::string(json::member(c, "id")).value_or("")), c);
  });
  int drawn = 0;
  for (const auto& s : report::trend_specs()) {
    if (!*s.op) continue;
    ++drawn;
    BOOST_TEST_CONTEXT(s.concept_id) {
      bool match = false;
      for (const auto& f : tests[s.concept_id])
        match = match || (f.criterion == s.criterion && f.op == s.op && std::stod(f.value) == s.threshold &&
                          f.unit == s.unit);
      BOOST_TEST(match, "the definition compares " << s.concept_id << " " << s.op << " " << s.threshold << " "
                                                   << s.unit);
    }
  }
  BOOST_TEST(drawn == 3);
}

// data_issues.ndjson lists issues by where they were found, digits compared as numbers, whatever order they
// were reported in (threads and partitions report in different orders).
BOOST_AUTO_TEST_CASE(data_issues_are_listed_by_location) {
  auto issue = [](std::string location, std::string kind) {
    return DataIssue{Severity::warning, std::move(kind), std::move(location), "", "", "m"};
  };
  const std::vector<DataIssue> reported = {
      issue("b.ndjson:10", "x"),          issue("b.ndjson:9", "y"),
      issue("a.ndjson:100", "x"),         issue("", "x"),
      issue("b.ndjson:9", "a"),           issue("bundle.json entry[12]", "x"),
      issue("bundle.json entry[2]", "x"), issue("b.ndjson:09", "x")};
  std::vector<std::string> order;
  std::istringstream lines(report::issues_ndjson(reported));
  for (std::string l; std::getline(lines, l);) {
    json::Document d;
    json::ParseError err;
    BOOST_TEST_REQUIRE(json::parse(l, d, err));
    order.push_back(std::string(json::string(json::member(d, "location")).value_or("-")) + " " +
                    std::string(*json::string(json::member(d, "kind"))));
  }
  const std::vector<std::string> expected = {
      "- x",           "a.ndjson:100 x", "b.ndjson:9 a",           "b.ndjson:9 y",
      "b.ndjson:09 x", "b.ndjson:10 x",  "bundle.json entry[2] x", "bundle.json entry[12] x"};
  BOOST_TEST(order == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_identified_id_that_looks_like_a_pseudonym_keeps_its_details) {
  // Whether a results line shows the patient's details follows the export, not the shape of the id.
  auto outcomes = test::demo().outcomes;
  auto& o = outcomes.front();
  BOOST_TEST_REQUIRE((o.tier != ranking::Tier::ineligible));
  o.patient_id = "pt-0123456789abcdef0123456789ab";
  BOOST_TEST_REQUIRE(report::looks_like_pseudonym(o.patient_id));
  const std::string lines = report::results_ndjson(test::nct(), {o});
  BOOST_TEST(lines.find("\"gender\"") != std::string::npos);
  BOOST_TEST(lines.find("\"key_values\"") != std::string::npos);
  const auto key = *report::PrivacyKey::from_secret("a test key of at least thirty-two bytes ....");
  const auto de = report::apply_privacy({o}, report::ExportMode::deidentified, &key);
  BOOST_TEST(report::results_ndjson(test::nct(), de).find("\"gender\"") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(withheld_units_still_keep_kits_apart) {
  // Units written as free text are withheld in a de-identified export, but two kits must not end up on one
  // axis as "no unit": each gets a keyed tag of its own.
  auto outcomes = test::demo().outcomes;
  auto& o = outcomes.front();
  o.series.clear();
  o.series.push_back(
      {"anti_dsdna", *parse_iso_day("2026-03-01"), 300, "", "\u5355\u4f4d/mL", "Observation/k1"});
  o.series.push_back(
      {"anti_dsdna", *parse_iso_day("2026-04-01"), 40, "", "IU/\u6beb\u5347", "Observation/k2"});
  const auto key = *report::PrivacyKey::from_secret("a test key of at least thirty-two bytes ....");
  const auto de = report::apply_privacy({o}, report::ExportMode::deidentified, &key);
  BOOST_TEST_REQUIRE(de.front().series.size() == 2u);
  const auto& u1 = de.front().series[0].unit;
  const auto& u2 = de.front().series[1].unit;
  BOOST_TEST(u1 != u2);
  BOOST_TEST(u1.find("mL") == std::string::npos);
  BOOST_TEST(u1.rfind("unit ", 0) == 0);
}
