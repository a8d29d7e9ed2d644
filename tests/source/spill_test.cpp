// Kept resources spilled to scratch files come back as the same patient records (terminology/spill.hpp).
#include <sys/resource.h>

#include <boost/test/unit_test.hpp>
#include <csignal>

#include "core/shard.hpp"
#include "report/outputs.hpp"
#include "source/file_source.hpp"
#include "support/scenario.hpp"

using namespace cf;
namespace fs = std::filesystem;

namespace {

// Every patient's results line for the demo data (NDJSON and Bundles), read through a Collector that spills
// after `budget` bytes to `buckets` files of `per_file` partitions each (budget < 0: never).
std::map<std::string, std::string> lines_with(long budget, std::size_t buckets, std::size_t* partitions,
                                              std::size_t* kept, std::uint64_t* spilled,
                                              std::size_t per_file = 1) {
  test::TempDir scratch;
  source::FileSource src(test::repo() / "fhir-samples");
  src.set_keep_raw(true);
  IssueLog issues;
  terminology::Collector col(test::terms());
  if (budget >= 0) col.set_spill(scratch.path, static_cast<std::size_t>(budget), buckets, per_file);
  auto st = src.read(
      [&](source::Page&& p) {
        for (auto& r : p.resources) col.add(std::move(r));
      },
      issues);
  BOOST_TEST_REQUIRE(st.ok());
  BOOST_TEST_REQUIRE(col.status().ok());
  *partitions = col.partitions();
  *spilled = col.spilled_bytes();
  std::map<std::string, std::string> out;
  for (std::size_t p = 0; p < col.partitions(); ++p) {
    auto records = col.finish_partition(p, issues);
    BOOST_TEST_REQUIRE(records.ok());
    for (const auto& [id, rec] : *records) {
      criteria::Context ctx{
          rec, *test::terms(), *parse_iso_day("2026-11-26"), {}, test::nct().sledai_window, std::nullopt};
      BOOST_TEST(!out.count(id), "patient " << id << " in two partitions");
      out[id] = report::result_line(test::nct(), ranking::assess(test::nct(), ctx));
    }
  }
  *kept = col.stats().kept;
  // The scratch files are unlinked: nothing is visible in the folder, even while the Collector lives.
  BOOST_TEST(fs::is_empty(scratch.path));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(spilled_records_equal_in_memory_records) {
  std::size_t p0 = 0, p1 = 0, p2 = 0, k0 = 0, k1 = 0, k2 = 0;
  std::uint64_t s0 = 0, s1 = 0, s2 = 0;
  const auto memory = lines_with(-1, 0, &p0, &k0, &s0);
  const auto all_spilled = lines_with(0, 7, &p1, &k1, &s1);
  const auto half = lines_with(200000, 3, &p2, &k2, &s2);
  BOOST_TEST(memory.size() >= 65u);  // the demo patients and the malformed examples' patient
  BOOST_TEST(p0 == 1u);
  BOOST_TEST(s0 == 0u);
  BOOST_TEST(p1 == 7u);
  BOOST_TEST(s1 > 100000u);
  BOOST_TEST(p2 == 3u);
  BOOST_TEST((s2 > 0u && s2 < s1));  // some kept in memory, the rest spilled
  BOOST_TEST(k0 == k1);
  BOOST_TEST(k0 == k2);
  BOOST_TEST((memory == all_spilled));
  BOOST_TEST((memory == half));
  // Many more buckets than patients (what a source of unknown size gets): most partitions are empty.
  std::size_t p3 = 0, k3 = 0;
  std::uint64_t s3 = 0;
  const auto many = lines_with(0, 400, &p3, &k3, &s3);
  BOOST_TEST(p3 == 400u);
  BOOST_TEST(s3 == s1);
  BOOST_TEST(k3 == k0);
  BOOST_TEST((memory == many));
  // Partitions sharing files (what a run does: 8 a file): each is read back alone, the files once.
  std::size_t p4 = 0, k4 = 0, p5 = 0, k5 = 0;
  std::uint64_t s4 = 0, s5 = 0;
  const auto shared_files = lines_with(0, 3, &p4, &k4, &s4, 5);
  BOOST_TEST(p4 == 15u);
  BOOST_TEST(k4 == k0);
  BOOST_TEST((memory == shared_files));
  const auto one_file = lines_with(200000, 1, &p5, &k5, &s5, 9);
  BOOST_TEST(p5 == 9u);
  BOOST_TEST((s5 > 0u && s5 < s1));
  BOOST_TEST(k5 == k0);
  BOOST_TEST((memory == one_file));
}

BOOST_AUTO_TEST_CASE(bucket_count_follows_the_input_size_and_the_open_file_limit) {
  constexpr std::uint64_t MB = 1u << 20, no_limit = UINT64_MAX;
  BOOST_TEST(terminology::spill_bucket_count(100 * MB, no_limit) == 16u);       // small: the floor
  BOOST_TEST(terminology::spill_bucket_count(500 * MB, no_limit) == 16u);       // 10,000 patients
  BOOST_TEST(terminology::spill_bucket_count(5000 * MB, no_limit) == 125u);     // 100,000 patients
  BOOST_TEST(terminology::spill_bucket_count(26000 * MB, no_limit) == 650u);    // 40 MB of input a bucket
  BOOST_TEST(terminology::spill_bucket_count(100000 * MB, no_limit) == 1024u);  // the ceiling
  // A source that cannot tell its size before reading (REST, Bulk) may be a hospital's whole export: it
  // gets many buckets, so that a partition stays small however much comes, but not the most (each is a new
  // file, and creating one costs up to a millisecond).
  BOOST_TEST(terminology::spill_bucket_count(0, no_limit) == 256u);
  // Each bucket is an open file: half of what the limit leaves after 128 for everything else.
  BOOST_TEST(terminology::spill_bucket_count(0, 1024) == 256u);
  BOOST_TEST(terminology::spill_bucket_count(100000 * MB, 1024) == 448u);
  BOOST_TEST(terminology::spill_bucket_count(500 * MB, 1024) == 16u);
  BOOST_TEST(terminology::spill_bucket_count(0, 256) == 64u);
}

BOOST_AUTO_TEST_CASE(bucket_of_spreads_one_shards_patients) {
  // Patients of shard 1/2 (FNV-1a even) still reach every one of 8 buckets.
  std::set<std::size_t> seen;
  const Shard shard{1, 2};
  for (int i = 0; i < 2000; ++i) {
    const std::string id = "p-" + std::to_string(i);
    if (shard.contains(id)) seen.insert(terminology::bucket_of(id, 8));
  }
  BOOST_TEST(seen.size() == 8u);
}

// Two versions of one Observation name different patients (an overlapping file after a patient merge). Kept
// in memory, the newer wins; spilled, the two land in different partitions and must be settled the same way.
BOOST_AUTO_TEST_CASE(versions_of_one_resource_in_two_partitions_keep_the_newest) {
  constexpr std::size_t kBuckets = 7;
  // Two patients in different buckets, and padding patients so that something is spilled.
  std::string a, b;
  for (int i = 0; b.empty(); ++i) {
    const std::string id = "pm-" + std::to_string(i);
    if (a.empty())
      a = id;
    else if (terminology::bucket_of(id, kBuckets) != terminology::bucket_of(a, kBuckets))
      b = id;
  }
  std::vector<std::string> lines;
  auto patient = [](const std::string& id) {
    return R"({"resourceType":"Patient","id":")" + id + R"(","birthDate":"1990-01-01","gender":"female"})";
  };
  auto creatinine = [](const std::string& pid, const std::string& version, const std::string& updated,
                       const std::string& value) {
    return R"({"resourceType":"Observation","id":"moved","meta":{"versionId":")" + version +
           R"(","lastUpdated":")" + updated +
           R"("},"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},"subject":{"reference":"Patient/)" +
           pid + R"("},"effectiveDateTime":"2026-10-01","valueQuantity":{"value":)" + value +
           R"(,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}})";
  };
  lines.push_back(patient(a));
  lines.push_back(patient(b));
  for (int i = 0; i < 40; ++i) lines.push_back(patient("pad-" + std::to_string(i)));
  // Version 2 (patient b) is read before version 1 (patient a): arrival order must not decide.
  lines.push_back(creatinine(b, "2", "2026-10-02T00:00:00Z", "3.1"));
  lines.push_back(creatinine(a, "1", "2026-10-01T00:00:00Z", "0.8"));
  test::TempDir data, scratch;
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  data.write("data.ndjson", text);

  // spill: 0 keeps everything in memory, 1 gives each partition a file, 2 puts all partitions in one file.
  auto evaluate = [&](int spill) {
    source::FileSource src(data.path);
    IssueLog issues;
    terminology::Collector col(test::terms());
    if (spill == 1) col.set_spill(scratch.path, 0, kBuckets);
    if (spill == 2) col.set_spill(scratch.path, 0, 1, kBuckets);
    auto st = src.read(
        [&](source::Page&& p) {
          for (auto& r : p.resources) col.add(std::move(r));
        },
        issues);
    BOOST_TEST_REQUIRE(st.ok());
    std::map<std::string, std::size_t> observations;  // patient -> creatinine results kept
    for (std::size_t p = 0; p < col.partitions(); ++p) {
      auto records = col.finish_partition(p, issues);
      BOOST_TEST_REQUIRE(records.ok());
      for (const auto& [id, rec] : *records) observations[id] = rec.observations.size();
    }
    BOOST_TEST(col.stats().duplicates == 1u);
    std::size_t reported = 0;
    for (const auto& i : issues.issues()) reported += i.kind == "duplicate-resource";
    BOOST_TEST(reported == 1u);
    return observations;
  };
  const auto memory = evaluate(0);
  const auto spilled = evaluate(1);
  const auto one_file = evaluate(2);
  BOOST_TEST(memory.at(b) == 1u);  // the newer version, on patient b
  BOOST_TEST(memory.at(a) == 0u);
  BOOST_TEST((spilled == memory));
  BOOST_TEST((one_file == memory));
}

// The run's list of drugs no mapping identifies (manifest.json, report.html): uses and patients counted per
// drug, its name the first in sort order among those written, the same in memory and over 7 partitions.
BOOST_AUTO_TEST_CASE(unidentified_drugs_are_counted_alike_in_every_partitioning) {
  auto drug = [](const std::string& id, const std::string& pid, const std::string& medication) {
    return R"({"resourceType":"MedicationRequest","id":")" + id +
           R"(","status":"active","intent":"order","subject":{"reference":"Patient/)" + pid +
           R"("},"authoredOn":"2026-10-01","medicationCodeableConcept":)" + medication + "}";
  };
  const std::string x17 = R"({"coding":[{"system":"http://hospital.example.org/drug","code":"X-17",)";
  std::vector<std::string> lines;
  for (int i = 0; i < 30; ++i) {
    const std::string pid = "pu-" + std::to_string(i);
    lines.push_back(R"({"resourceType":"Patient","id":")" + pid + R"(","birthDate":"1990-01-01"})");
    // X-17 for every patient, twice for every third, under two names; a text-only remedy for every fifth;
    // metformin by RxNorm (another drug, not listed) and prednisone (mapped) for all.
    lines.push_back(
        drug("a" + pid, pid, x17 + (i % 2 ? R"("display":"骁悉 0.5 g"}]})" : R"("display":"MMF-X"}]})")));
    if (i % 3 == 0) lines.push_back(drug("b" + pid, pid, x17 + R"("display":"MMF-X"}]})"));
    if (i % 5 == 0) lines.push_back(drug("c" + pid, pid, R"({"text":"Herbal decoction No. 3"})"));
    lines.push_back(
        drug("d" + pid, pid,
             R"({"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"860975",)"
             R"("display":"metformin 500 MG"}]})"));
    lines.push_back(
        drug("e" + pid, pid,
             R"({"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"8640"}]})"));
  }
  test::TempDir data;
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  data.write("data.ndjson", text);
  auto listed = [&](bool spill) {
    test::TempDir scratch;
    source::FileSource src(data.path);
    IssueLog issues;
    terminology::Collector col(test::terms());
    if (spill) col.set_spill(scratch.path, 0, 7);
    auto st = src.read(
        [&](source::Page&& p) {
          for (auto& r : p.resources) col.add(std::move(r));
        },
        issues);
    BOOST_TEST_REQUIRE(st.ok());
    for (std::size_t p = 0; p < col.partitions(); ++p)
      BOOST_TEST_REQUIRE(col.finish_partition(p, issues).ok());
    BOOST_TEST(col.partitions() == (spill ? 7u : 1u));
    return terminology::unidentified_by_use(col.stats().unidentified);
  };
  const auto memory = listed(false), spilled = listed(true);
  BOOST_TEST_REQUIRE(memory.size() == 2u);
  BOOST_TEST((memory[0].codes == std::vector<std::string>{"http://hospital.example.org/drug|X-17"}));
  BOOST_TEST(memory[0].name == "MMF-X");  // before "骁悉 0.5 g" in byte order
  BOOST_TEST(memory[0].patients == 30u);
  BOOST_TEST(memory[0].uses == 40u);
  BOOST_TEST(memory[1].codes.empty());
  BOOST_TEST(memory[1].name == "Herbal decoction No. 3");
  BOOST_TEST(memory[1].patients == 6u);
  BOOST_TEST(memory[1].uses == 6u);
  BOOST_TEST_REQUIRE(spilled.size() == memory.size());
  for (std::size_t i = 0; i < memory.size(); ++i) {
    BOOST_TEST((spilled[i].codes == memory[i].codes));
    BOOST_TEST(spilled[i].name == memory[i].name);
    BOOST_TEST(spilled[i].uses == memory[i].uses);
    BOOST_TEST(spilled[i].patients == memory[i].patients);
  }
}

// Partitions sharing a file: each reads back only its own records, and one read twice does not give the
// file's disk space (and its neighbours' records) back early.
BOOST_AUTO_TEST_CASE(a_partition_read_twice_does_not_release_its_neighbours) {
  test::TempDir scratch;
  auto made = terminology::SpillBuckets::create(scratch.path, 4, 1);
  BOOST_TEST_REQUIRE(made.ok());
  auto& spill = **made;
  for (int i = 0; i < 20; ++i) {
    fhir::Patient p;
    p.h.type = fhir::ResourceType::patient;
    p.h.id = "p" + std::to_string(i);
    p.h.patient_id = p.h.id;
    BOOST_TEST_REQUIRE(spill.write(static_cast<std::size_t>(i % 4), fhir::Resource(p)).ok());
  }
  auto ids = [&](std::size_t b) {
    std::vector<std::string> out;
    BOOST_TEST_REQUIRE(
        spill.read(b, [&](std::shared_ptr<fhir::Resource>&& r) { out.push_back(fhir::header(*r).id); }).ok());
    return out;
  };
  const std::vector<std::string> first{"p0", "p4", "p8", "p12", "p16"};
  BOOST_TEST(ids(0) == first, boost::test_tools::per_element());
  BOOST_TEST(ids(0).size() == 5u);  // still there: the file's other partitions are unread
  for (std::size_t b = 1; b < 4; ++b) BOOST_TEST(ids(b).size() == 5u);
}

// A spill file that cannot be written (the disk full; here the process's file size limit) fails the write
// that found it, with the system's reason, and every write after it with the same error, without buffering
// more: the run ends with it instead of holding the rest of the spill in memory.
BOOST_AUTO_TEST_CASE(a_spill_file_that_cannot_be_written_fails_every_later_write) {
  test::TempDir scratch;
  auto made = terminology::SpillBuckets::create(scratch.path, 2, 1);
  BOOST_TEST_REQUIRE(made.ok());
  auto& spill = **made;
  auto patient = [](int i) {
    fhir::Patient p;
    p.h.type = fhir::ResourceType::patient;
    p.h.id = "p" + std::to_string(i);
    p.h.patient_id = p.h.id;
    p.name = std::string(500, 'n');  // about half a kilobyte a record
    return fhir::Resource(p);
  };
  rlimit old{};
  BOOST_TEST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
  auto* const old_handler = std::signal(SIGXFSZ, SIG_IGN);  // write() then fails with EFBIG instead
  rlimit small = old;
  small.rlim_cur = 100000;  // bytes: about three 32 KB buffers
  BOOST_TEST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  Status failed = Status::success();
  int written = 0;
  for (int i = 0; i < 2000 && failed.ok(); ++i, ++written) failed = spill.write(0, patient(i));
  const Status later = spill.write(0, patient(9999));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  BOOST_TEST_REQUIRE(!failed.ok());
  BOOST_TEST(written > 100);  // buffered until the file reached the limit
  BOOST_TEST(written < 400);
  BOOST_TEST(failed.error().what().find("cannot write a spill file: File too large") != std::string::npos,
             failed.error().what());
  BOOST_TEST_REQUIRE(!later.ok());
  BOOST_TEST(later.error().what() == failed.error().what());
  BOOST_TEST(spill.bytes_pending() == 0u);  // not kept, not encoded
  // Reading it back fails too, with that error, rather than returning the part that was written.
  const Status read = spill.read(0, [](std::shared_ptr<fhir::Resource>&&) {});
  BOOST_TEST_REQUIRE(!read.ok());
  BOOST_TEST(read.error().what() == failed.error().what());
}
