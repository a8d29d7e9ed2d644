// Every file of ../shared/fhir-corpus (public FHIR R4 data written by others) is read with zero crashes, and
// every resource is either read or reported: the counts equal an independent count (SOURCES.md, made with
// python3).
#define BOOST_TEST_MODULE corpus
#include <boost/test/unit_test.hpp>

#include "support/scenario.hpp"

using namespace cf;

namespace {
struct Count {
  std::size_t total = 0, rejected = 0;
};
Count read_all(const std::filesystem::path& dir, IssueLog& issues) {
  source::FileSource src(dir);
  terminology::Collector col(test::terms());
  auto st = src.read(
      [&](source::Page&& p) {
        for (auto& r : p.resources) col.add(std::move(r));
      },
      issues);
  BOOST_REQUIRE_MESSAGE(st, (st ? "" : st.error().what()));
  col.finish(issues);
  Count c;
  for (const auto& [t, n] : src.stats().read_by_type) c.total += n;
  for (const auto& [t, n] : src.stats().skipped_by_type) c.total += n;
  c.total += src.stats().rejected;
  c.rejected = src.stats().rejected;
  return c;
}
}  // namespace

BOOST_AUTO_TEST_CASE(every_corpus_resource_is_accounted_for) {
  const std::filesystem::path corpus = std::filesystem::path(COHORT_SHARED_DIR) / "fhir-corpus";
  if (!std::filesystem::exists(corpus)) {
    BOOST_TEST_MESSAGE("SKIPPED: " << corpus << " not present");
    return;
  }
  // folder -> resources per SOURCES.md (synthea-bulk-ndjson: 5,945 resources + 4 bulk-export log lines).
  const std::vector<std::pair<std::string, std::size_t>> expected = {
      {"synthea", 5503},  {"synthea-bulk-ndjson", 5949},
      {"pathling", 1936}, {"hl7-examples", 1038},
      {"inferno", 960},   {"mii-kds", 726}};
  std::size_t all = 0;
  for (const auto& [folder, n] : expected) {
    IssueLog issues;
    Count c = read_all(corpus / folder, issues);
    BOOST_TEST(c.total == n, folder << ": " << c.total << " read or reported, SOURCES.md counts " << n);
    BOOST_TEST(c.rejected == (folder == "synthea-bulk-ndjson" ? 4u : 0u), folder);
    all += c.total;
  }
  BOOST_TEST_MESSAGE("corpus: " << all << " resources read or reported, 0 crashes");
}
