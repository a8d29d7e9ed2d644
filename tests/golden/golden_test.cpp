// Golden scenarios: the demo population in fhir-samples/ was adjudicated by hand from
// docs/trial-definition.md (fhir-samples/expected*.json says, per patient, what the case proves, its tier and
// criterion outcomes). The engine must agree on every patient and every listed criterion. The malformed
// inputs must produce exactly the data issues and read counts that fhir-samples/malformed/expected.json
// lists.
#define BOOST_TEST_MODULE golden
#include <boost/test/unit_test.hpp>

#include <fstream>
#include <sstream>

#include "json/json.hpp"
#include "support/scenario.hpp"

using namespace cf;

namespace {

json::Document load(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  json::Document d;
  json::ParseError e;
  if (!json::parse(ss.str(), d, e)) throw std::runtime_error(p.string() + ": " + e.message);
  return d;
}

std::string str(const json::Value* v) {
  return std::string(json::string(v).value_or(""));
}

std::map<std::string, ranking::PatientOutcome> run_demo(const std::string& as_of) {
  source::FileSource src(std::vector<std::filesystem::path>{test::repo() / "fhir-samples/ndjson",
                                                            test::repo() / "fhir-samples/bundles"});
  IssueLog issues;
  terminology::Collector col(test::terms());
  auto st = src.read(
      [&](source::Page&& p) {
        for (auto& r : p.resources) col.add(std::move(r));
      },
      issues);
  if (!st) throw std::runtime_error(st.error().what());
  BOOST_TEST(src.completeness().complete());
  std::map<std::string, ranking::PatientOutcome> out;
  for (const auto& [id, rec] : col.finish(issues)) {
    criteria::Context ctx{
        rec, *test::terms(), *parse_iso_day(as_of), nullptr, test::nct().sledai_window, std::nullopt};
    out[id] = ranking::assess(test::nct(), ctx);
  }
  return out;
}

// Compares one expected patient entry; returns the number of mismatches.
int check(const json::Value& c, std::map<std::string, ranking::PatientOutcome>& got,
          std::size_t& criteria_checked) {
  const std::string id = str(json::member(c, "patient"));
  auto it = got.find(id);
  BOOST_TEST_CONTEXT("patient " << id << ": " << str(json::member(c, "proves"))) {
    BOOST_TEST((it != got.end()), "the engine evaluated the patient");
    if (it == got.end()) return 1;
    int bad = 0;
    const std::string tier = ranking::to_string(it->second.tier);
    BOOST_TEST(tier == str(json::member(c, "tier")));
    bad += tier != str(json::member(c, "tier"));
    if (const json::Value* crit = json::member(c, "criteria"))
      for (auto m = crit->MemberBegin(); m != crit->MemberEnd(); ++m) {
        const std::string cid(m->name.GetString(), m->name.GetStringLength());
        const std::string want = str(&m->value), have = test::outcome_of(it->second, cid);
        BOOST_TEST(have == want, cid << ": engine " << have << ", adjudicated " << want);
        bad += have != want;
        ++criteria_checked;
      }
    return bad;
  }
  return 0;
}

}  // namespace

BOOST_AUTO_TEST_CASE(demo_population_matches_adjudication) {
  auto expected = load(test::repo() / "fhir-samples/expected.json");
  auto got = run_demo(str(json::member(expected, "as_of")));
  std::size_t patients = 0, checked = 0;
  int mismatches = 0;
  json::for_each(json::member(expected, "patients"), [&](std::size_t, const json::Value& c) {
    ++patients;
    mismatches += check(c, got, checked);
  });
  BOOST_TEST(patients == got.size(), "every evaluated patient is adjudicated");
  BOOST_TEST(patients >= 40u);
  BOOST_TEST_MESSAGE("golden " << str(json::member(expected, "as_of")) << ": " << patients << " patients, "
                               << checked << " criterion outcomes checked, " << mismatches << " mismatches");
}

BOOST_AUTO_TEST_CASE(one_day_later_moves_the_boundary_cases) {
  auto base = load(test::repo() / "fhir-samples/expected.json");
  auto delta = load(test::repo() / "fhir-samples/expected-2026-11-27.json");
  auto got = run_demo(str(json::member(delta, "as_of")));
  std::set<std::string> changed;
  std::size_t checked = 0;
  int mismatches = 0;
  json::for_each(json::member(delta, "patients"), [&](std::size_t, const json::Value& c) {
    changed.insert(str(json::member(c, "patient")));
    mismatches += check(c, got, checked);
  });
  BOOST_TEST(!changed.empty());
  json::for_each(json::member(base, "patients"), [&](std::size_t, const json::Value& c) {
    if (!changed.count(str(json::member(c, "patient")))) mismatches += check(c, got, checked);
  });
  BOOST_TEST_MESSAGE("golden " << str(json::member(delta, "as_of")) << ": " << changed.size()
                               << " patients change, " << checked << " outcomes checked, " << mismatches
                               << " mismatches");
}

BOOST_AUTO_TEST_CASE(malformed_inputs_are_reported_not_crashed) {
  const auto dir = test::repo() / "fhir-samples/malformed";
  auto expected = load(dir / "expected.json");
  std::size_t files = 0;
  json::for_each(json::member(expected, "files"), [&](std::size_t, const json::Value& f) {
    const std::string name = str(json::member(f, "file"));
    if (!std::filesystem::exists(dir / name))
      return;  // generated on demand (generate.py --huge), not committed
    ++files;
    BOOST_TEST_CONTEXT("malformed/" << name << ": " << str(json::member(f, "defect"))) {
      source::FileSource src(dir / name);
      IssueLog issues;
      std::size_t read = 0;
      terminology::Collector col(test::terms());
      auto st = src.read(
          [&](source::Page&& p) {
            read += p.resources.size();
            for (auto& r : p.resources) col.add(std::move(r));
          },
          issues);
      col.finish(issues);
      if (!st) {
        // A file with nothing usable at all (empty) fails the source as a whole: that is its report.
        BOOST_TEST(json::number_text(json::member(f, "read")).value_or("0") == "0");
        return;
      }
      std::size_t skipped = 0;
      for (const auto& [t, n] : src.stats().skipped_by_type) skipped += n;
      if (auto r = json::number_text(json::member(f, "read"))) {
        std::size_t want = std::stoul(std::string(*r));
        if (auto lo = json::number_text(json::member(f, "read_min")))
          BOOST_TEST((read + skipped >= std::stoul(std::string(*lo)) && read + skipped <= want));
        else
          BOOST_TEST(read + skipped == want);
      }
      if (auto r = json::number_text(json::member(f, "rejected")))
        BOOST_TEST(src.stats().rejected == std::stoul(std::string(*r)));
      auto kinds = issues.counts_by_kind();
      json::for_each(json::member(f, "issues"), [&](std::size_t, const json::Value& i) {
        std::vector<std::string> any;
        if (auto k = json::string(json::member(&i, "kind"))) any.emplace_back(*k);
        json::for_each(json::member(&i, "kind_any_of"),
                       [&](std::size_t, const json::Value& k) { any.push_back(str(&k)); });
        bool found = false;
        for (const auto& k : any) found = found || kinds.count(k) > 0;
        BOOST_TEST(found, "a data issue of kind " << (any.empty() ? "?" : any.front()));
      });
      if (json::member(f, "issues") && json::member(f, "issues")->Empty())
        BOOST_TEST(issues.size() == 0u, "no data issue expected");
    }
  });
  BOOST_TEST(files >= 20u);
}
