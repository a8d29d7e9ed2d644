// The raw-line prefilter (source/line_filter.hpp) may only skip lines that no criterion can use, and its fast
// single-pass path must agree with the careful one on every line.
#include <boost/test/unit_test.hpp>

#include <fstream>

#include "app/run.hpp"
#include "fhir/extract.hpp"
#include "json/json.hpp"
#include "source/line_filter.hpp"
#include "support/scenario.hpp"

using namespace cf;
using V = source::LineFilter::Verdict;
namespace fs = std::filesystem;

namespace {

const source::LineFilter& filter() {
  static auto prepared = [] {
    app::RunOptions o;
    o.mappings = test::repo() / "mappings";
    o.trial = o.mappings / "trials" / "nct07177911.json";
    auto p = app::prepare(o);
    if (!p) throw std::runtime_error(p.error().what());
    return *p;
  }();
  static auto f = app::line_filter_for(*prepared);
  return *f;
}

V verdict(std::string_view line) {
  std::string type;
  return filter().check(line, type);
}

// Every NDJSON line of the demo data and the shared corpus.
std::vector<std::string> corpus_lines() {
  std::vector<std::string> lines;
  for (const fs::path& root : {test::repo() / "fhir-samples", fs::path(COHORT_SHARED_DIR) / "fhir-corpus"}) {
    std::error_code ec;
    if (!fs::exists(root, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->path().extension() != ".ndjson") continue;
      std::ifstream in(it->path());
      for (std::string l; std::getline(in, l);)
        if (!l.empty()) lines.push_back(l);
    }
  }
  return lines;
}

}  // namespace

BOOST_AUTO_TEST_CASE(fast_and_careful_paths_agree_on_every_corpus_line) {
  const auto lines = corpus_lines();
  BOOST_TEST_REQUIRE(lines.size() > 500u);
  std::size_t fast = 0, skipped = 0;
  for (const auto& l : lines) {
    // A leading space keeps the line valid JSON but sends it down the careful path.
    const V a = verdict(l), b = verdict(" " + l);
    BOOST_TEST((a == b), "verdicts differ for " << l.substr(0, 120));
    fast += l.rfind("{\"resourceType\":\"", 0) == 0 && l.find('\\') == std::string::npos;
    skipped += a == V::irrelevant_observation;
  }
  BOOST_TEST(fast > 100u);     // the fast path was exercised
  BOOST_TEST(skipped > 100u);  // and it skipped something
}

BOOST_AUTO_TEST_CASE(skipped_lines_match_no_observation_concept) {
  auto terms = test::terms();
  std::size_t checked = 0;
  for (const auto& l : corpus_lines()) {
    if (verdict(l) != V::irrelevant_observation) continue;
    json::Document doc;
    json::ParseError err;
    IssueLog issues;
    if (!json::parse(l, doc, err)) continue;  // fhir-samples/malformed: a skipped line is not read at all
    auto ex = fhir::extract_resource(doc, fhir::Origin{"test", "test"}, issues);
    const auto* o = ex.resource ? std::get_if<fhir::Observation>(&*ex.resource) : nullptr;
    if (!o) continue;
    BOOST_TEST(terms->match(o->code).empty(), "a skipped line matches a concept: " << l.substr(0, 160));
    ++checked;
  }
  BOOST_TEST(checked > 100u);
}

BOOST_AUTO_TEST_CASE(hand_written_lines) {
  const std::string head = R"({"resourceType":"Observation","id":"o1",)";
  const std::string subject = R"("subject":{"reference":"Patient/p1"}})";
  // A mapped LOINC code (creatinine), in the fast and in the careful form.
  const std::string crea =
      head + R"("code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},)" + subject;
  BOOST_TEST((verdict(crea) == V::parse));
  BOOST_TEST((verdict(" " + crea) == V::parse));
  // An unmapped code (sodium) with an unhelpful display: skipped.
  const std::string sodium =
      head + R"("code":{"coding":[{"system":"http://loinc.org","code":"2947-0","display":"Sodium"}]},)" +
      subject;
  BOOST_TEST((verdict(sodium) == V::irrelevant_observation));
  // The same code as the value of another key is not a code.
  BOOST_TEST((verdict(head + R"("note":[{"text":"2160-0"}],)" + subject) == V::irrelevant_observation));
  // Whitespace around the colon still finds the code.
  BOOST_TEST((verdict(head + R"("code" : {"coding":[{"code" :  "2160-0"}]},)" + subject) == V::parse));
  // A mapped text pattern (concepts.json "SLEDAI") in code.text, in another case, is found.
  BOOST_TEST((verdict(head + R"("code":{"text":"Sledai-2K total"},)" + subject) == V::parse));
  BOOST_TEST(
      (verdict(head + R"("code":{"coding":[{"display":"the SLEDAI score"}]},)" + subject) == V::parse));
  // An escaped character anywhere: parsed, since escapes could hide a code or a pattern.
  BOOST_TEST((verdict(head + R"("code":{"text":"\u0053LEDAI"},)" + subject) == V::parse));
  // A resource type the pipeline does not read; a type it reads but does not filter.
  std::string type;
  BOOST_TEST((filter().check(R"({"resourceType":"Encounter","id":"e"})", type) == V::other_type));
  BOOST_TEST(type == "Encounter");
  BOOST_TEST((verdict(R"({"resourceType":"Patient","id":"p"})") == V::parse));
  // Not starting with resourceType: the careful path (no mapped code in it: skipped); not JSON at all:
  // parsed.
  BOOST_TEST((verdict(R"({"id":"x","resourceType":"Observation"})") == V::irrelevant_observation));
  BOOST_TEST((verdict("not json") == V::parse));
  BOOST_TEST((verdict(R"({"resourceType":"Observ)") == V::parse));
}
