// The counts-only export's small-cell rule (RELIABILITY H8): which counts are suppressed or rounded, the
// funnel of the demo run under it, and the run metadata stripped of patient ids.
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "demo.hpp"
#include "report/counts.hpp"
#include "report/privacy.hpp"

using namespace cf;

BOOST_AUTO_TEST_SUITE(counts)

BOOST_AUTO_TEST_CASE(small_counts_are_suppressed_and_larger_ones_rounded) {
  const report::CellPolicy p;  // 11, 5
  BOOST_TEST(report::publish_count(0, p) == "0");
  BOOST_TEST(report::publish_count(1, p) == "<11");
  BOOST_TEST(report::publish_count(10, p) == "<11");
  BOOST_TEST(report::publish_count(11, p) == "10");  // rounded, not suppressed: 11 is at the threshold
  BOOST_TEST(report::publish_count(12, p) == "10");
  BOOST_TEST(report::publish_count(13, p) == "15");  // halves up
  BOOST_TEST(report::publish_count(1003, p) == "1005");
  const report::CellPolicy strict{20, 10};
  BOOST_TEST(report::publish_count(19, strict) == "<20");
  BOOST_TEST(report::publish_count(24, strict) == "20");
  BOOST_TEST(report::publish_count(25, strict) == "30");
  const report::CellPolicy plain{1, 1};  // no suppression, no rounding (a policy that allows it)
  BOOST_TEST(report::publish_count(3, plain) == "3");
}

BOOST_AUTO_TEST_CASE(the_demo_funnel_shows_no_count_from_1_to_10) {
  const report::CellPolicy p;
  const std::string csv = report::attrition_csv(test::nct(), test::demo().outcomes, &p);
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);  // header
  std::size_t rows = 0, suppressed = 0;
  // Empty (the deceased row's outcome cells), 0, <11, or a multiple of 5 from 10.
  auto published = [](const std::string& f) {
    if (f.empty() || f == "0" || f == "<11") return true;
    if (f.size() < 2 || f[0] == '0' || f.find_first_not_of("0123456789") != std::string::npos) return false;
    return f.back() == '0' || f.back() == '5';
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++rows;
    // The last six fields are the counts (labels may hold commas, so count from the end).
    std::vector<std::string> fields;
    std::size_t end = line.size();
    for (int i = 0; i < 6; ++i) {
      const std::size_t comma = line.rfind(',', end - 1);
      fields.push_back(line.substr(comma + 1, end - comma - 1));
      end = comma;
    }
    for (const auto& f : fields) {
      BOOST_TEST(published(f), line);
      suppressed += f == "<11";
    }
  }
  BOOST_TEST(rows == test::nct().criteria.size() + 1);
  BOOST_TEST(suppressed > 0u);  // the demo has small cells: the rule did something
  // Without a policy the same table has exact counts.
  BOOST_TEST(report::attrition_csv(test::nct(), test::demo().outcomes).find("<11") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(run_metadata_names_no_patient) {
  report::RunInfo info;
  info.incomplete = {"Observation (all patients)", "Condition (patient p1)", "Condition (patient p2)",
                     "Procedure (patient p3)"};
  const report::CellPolicy p;
  const auto c = report::counts_run_info(info, p);
  BOOST_TEST(
      (c.incomplete == std::vector<std::string>{"Observation (all patients)", "Condition (<11 patients)",
                                                "Procedure (<11 patients)"}),
      boost::test_tools::per_element());
  // apply_privacy fails closed in this mode: no outcome, no issue, no patient id.
  BOOST_TEST(report::apply_privacy(test::demo().outcomes, report::ExportMode::counts, nullptr).empty());
  BOOST_TEST(report::apply_privacy(std::vector<DataIssue>(3), report::ExportMode::counts, nullptr).empty());
  for (const auto& s : report::apply_privacy(info, report::ExportMode::counts, nullptr).incomplete)
    BOOST_TEST(s.find("(patient ") == std::string::npos, s);
  BOOST_TEST((report::parse_export_mode("counts") == report::ExportMode::counts));
  BOOST_TEST(std::string(report::to_string(report::ExportMode::counts)) == "counts");
}

BOOST_AUTO_TEST_SUITE_END()
