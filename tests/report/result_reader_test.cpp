// read_result_line() is the inverse of result_line(): on the demo run's outcomes, in every export mode,
// line -> outcome -> line is byte for byte the same, and the outcomes read back give the same report.html and
// group.json as the evaluated ones (what `merge` relies on). Malformed lines and lines of another trial
// definition are refused.
#include <boost/test/unit_test.hpp>

#include <algorithm>

#include "demo.hpp"
#include "json/json.hpp"
#include "report/fhir_group.hpp"
#include "report/html_report.hpp"
#include "report/result_reader.hpp"

using namespace cf;

namespace {

const report::PrivacyKey& key() {
  static const auto k = *report::PrivacyKey::from_secret("result reader test key: 0123456789abcdef0123");
  return k;
}

std::vector<ranking::PatientOutcome> shown(report::ExportMode mode) {
  return report::apply_privacy(test::demo().outcomes, mode, &key(), &test::nct());
}

// Every line read back and written again; returns the outcomes read.
std::vector<ranking::PatientOutcome> round_trip(
    const std::vector<ranking::PatientOutcome>& outcomes,
    report::IneligibleDetail detail = report::IneligibleDetail::deciding) {
  std::vector<ranking::PatientOutcome> back;
  for (const auto& o : outcomes) {
    const std::string line = report::result_line(test::nct(), o, detail);
    auto r = report::read_result_line(test::nct(), line);
    BOOST_TEST_REQUIRE(r.ok(), o.patient_id << ": " << (r.ok() ? "" : r.error().what()));
    BOOST_TEST(report::result_line(test::nct(), *r, detail) == line, o.patient_id);
    BOOST_TEST((r->in_favour == o.in_favour && r->against == o.against && r->unknown == o.unknown &&
                r->manual == o.manual),
               o.patient_id << ": counts recomputed from the outcomes");
    back.push_back(std::move(*r));
  }
  return back;
}

}  // namespace

BOOST_AUTO_TEST_CASE(identified_lines_round_trip_and_rebuild_the_reports) {
  const auto& run = test::demo();
  BOOST_TEST_REQUIRE(run.outcomes.size() == 65u);
  const auto back = round_trip(run.outcomes);
  // The demo exercises every part of the line the reports need.
  std::size_t candidates = 0, with_series = 0, with_bounds_evidence = 0, named = 0;
  for (const auto& o : back) {
    named += !o.name.empty();
    if (o.tier == ranking::Tier::ineligible) continue;
    ++candidates;
    with_series += !o.series.empty();
    with_bounds_evidence += !o.bounds.evidence.empty();
    BOOST_TEST(!o.gender.empty(), o.patient_id);
    BOOST_TEST(!o.key_values.empty(), o.patient_id);
  }
  BOOST_TEST(candidates == 36u);
  BOOST_TEST(with_series > 0u);
  BOOST_TEST(with_bounds_evidence > 0u);
  BOOST_TEST(named == run.outcomes.size());
  const auto mode = report::ExportMode::identified;
  BOOST_TEST(report::html_report(test::nct(), run.info, back, mode) ==
             report::html_report(test::nct(), run.info, run.outcomes, mode));
  BOOST_TEST(report::fhir_group_json(test::nct(), run.info, back, mode, nullptr) ==
             report::fhir_group_json(test::nct(), run.info, run.outcomes, mode, nullptr));
  BOOST_TEST(report::candidates_csv(back) == report::candidates_csv(run.outcomes));
  BOOST_TEST(report::attrition_csv(test::nct(), back) == report::attrition_csv(test::nct(), run.outcomes));
}

BOOST_AUTO_TEST_CASE(limited_lines_round_trip_and_rebuild_the_reports) {
  const auto mode = report::ExportMode::limited;
  const auto lim = shown(mode);
  const auto back = round_trip(lim);
  for (const auto& o : back) BOOST_TEST(o.name.empty(), o.patient_id << ": no name in a limited line");
  const auto& info = test::demo().info;
  BOOST_TEST(report::html_report(test::nct(), info, back, mode) ==
             report::html_report(test::nct(), info, lim, mode));
  BOOST_TEST(report::fhir_group_json(test::nct(), info, back, mode, nullptr) ==
             report::fhir_group_json(test::nct(), info, lim, mode, nullptr));
}

BOOST_AUTO_TEST_CASE(deidentified_lines_round_trip_without_display_data) {
  const auto de = shown(report::ExportMode::deidentified);
  const auto back = round_trip(de);
  for (const auto& o : back)
    BOOST_TEST((o.name.empty() && o.gender.empty() && o.birth_date.empty() && o.key_values.empty() &&
                o.series.empty() && o.bounds.evidence.empty()),
               o.patient_id << ": a pseudonymised line carries no display data");
}

BOOST_AUTO_TEST_CASE(bad_lines_are_refused) {
  const std::string line = report::result_line(test::nct(), test::demo().outcomes.front());
  for (const std::string& bad : {std::string("not json"), std::string("{}"), line.substr(0, line.size() / 2),
                                 std::string(R"({"patient":"x","tier":"maybe","rank":0,"score":0})")})
    BOOST_TEST(!report::read_result_line(test::nct(), bad).ok(), bad.substr(0, 60));
  // Another definition: a criterion renamed.
  std::string other = line;
  const auto at = other.find("\"id\":\"" + test::nct().criteria.front().id + "\"");
  BOOST_TEST_REQUIRE(at != std::string::npos);
  other.replace(at, 6 + test::nct().criteria.front().id.size() + 1, "\"id\":\"X1\"");
  auto r = report::read_result_line(test::nct(), other);
  BOOST_TEST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().message.find("X1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(lines_without_display_data_still_read) {
  // A line written before the display data existed: decisions read, nothing to show beyond them.
  auto o = test::demo().outcomes.front();
  BOOST_TEST_REQUIRE((o.tier != ranking::Tier::ineligible));
  o.name.clear();
  o.gender.clear();
  o.birth_date.clear();
  o.key_values.clear();
  o.series.clear();
  o.bounds.evidence.clear();
  auto r = report::read_result_line(test::nct(), report::result_line(test::nct(), o));
  BOOST_TEST_REQUIRE(r.ok());
  BOOST_TEST(r->patient_id == o.patient_id);
  BOOST_TEST((r->tier == o.tier && r->rank == o.rank && r->score == o.score));
  BOOST_TEST(r->results.size() == test::nct().criteria.size());
  BOOST_TEST(r->series.empty());
}

// An ineligible patient's line gives the criteria that excluded them in full and the others' outcome only,
// unless every criterion is asked for; a candidate's line is the same either way. Both read back.
BOOST_AUTO_TEST_CASE(ineligible_lines_detail_the_deciding_criteria) {
  const auto& outcomes = test::demo().outcomes;
  std::size_t ineligible = 0, brief_entries = 0;
  for (const auto& o : outcomes) {
    const std::string brief = report::result_line(test::nct(), o);
    const std::string full = report::result_line(test::nct(), o, report::IneligibleDetail::full);
    if (o.tier != ranking::Tier::ineligible) {
      BOOST_TEST(brief == full, o.patient_id);
      continue;
    }
    ++ineligible;
    BOOST_TEST(brief.size() < full.size(), o.patient_id);
    for (const auto& [line, is_brief] : {std::pair{&brief, true}, std::pair{&full, false}}) {
      json::Document d;
      json::ParseError e;
      BOOST_TEST_REQUIRE(json::parse(*line, d, e));
      json::for_each(json::member(d, "criteria"), [&](std::size_t i, const json::Value& c) {
        const auto& id = test::nct().criteria[i].id;
        const bool deciding = std::find(o.deciding.begin(), o.deciding.end(), id) != o.deciding.end();
        BOOST_TEST(json::string(json::member(c, "id")).value_or("") == id);
        BOOST_TEST(json::string(json::member(c, "outcome")).value_or("") ==
                   criteria::to_string(o.results[i].outcome));
        const bool detailed = json::member(c, "reason") && json::member(c, "evidence") &&
                              json::member(c, "label") && json::member(c, "kind");
        if (is_brief && !deciding) {
          BOOST_TEST((!detailed && c.MemberCount() == 2u), o.patient_id << " " << id);
          ++brief_entries;
        } else {
          BOOST_TEST(detailed, o.patient_id << " " << id);
        }
      });
    }
  }
  BOOST_TEST(ineligible == 29u);
  BOOST_TEST(brief_entries > 0u);
  round_trip(outcomes, report::IneligibleDetail::full);
}
