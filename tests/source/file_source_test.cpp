// FileSource reading NDJSON lines longer than its read chunk (2 MB): read whole, numbered right, and one
// over the 64 MB limit reported and skipped without losing the lines after it.
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <stdexcept>
#include <thread>

#include "fhir/extract.hpp"
#include "source/file_source.hpp"
#include "support/scenario.hpp"

using namespace cf;

namespace {

// A Patient line of about `bytes` bytes: the narrative div carries the bulk.
std::string long_patient(const std::string& id, std::size_t bytes) {
  return R"({"resourceType":"Patient","id":")" + id +
         R"(","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)" +
         std::string(bytes, 'x') + R"(</div>"},"birthDate":"1990-01-01"})";
}

struct Read {
  std::vector<std::pair<std::string, std::string>> resources;  // key, location
  std::vector<DataIssue> issues;
};

// A source over `dir` that reads with `threads` threads.
std::unique_ptr<source::FileSource> source_over(const test::TempDir& dir, std::size_t threads) {
  auto src = std::make_unique<source::FileSource>(dir.path);
  src->set_threads(threads);
  return src;
}

Read read_all(const test::TempDir& dir, std::size_t threads) {
  const auto src = source_over(dir, threads);
  IssueLog issues;
  Read out;
  auto st = src->read(
      [&](source::Page&& p) {
        for (const auto& r : p.resources)
          out.resources.emplace_back(fhir::header(r).key(), fhir::header(r).origin.location);
      },
      issues);
  BOOST_TEST_REQUIRE(st.ok());
  out.issues = issues.issues();
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(lines_longer_than_a_read_chunk_are_read_whole) {
  test::TempDir dir;
  // 9 MB and 5 MB lines span several 2 MB reads, between and after ordinary lines.
  dir.write("p.ndjson", test::patient("a") + "\n" + long_patient("b", 9u << 20) + "\n" + test::patient("c") +
                            "\n" + long_patient("d", 5u << 20) + "\n" + test::patient("e"));
  for (std::size_t threads : {1u, 2u}) {
    BOOST_TEST_CONTEXT("threads " << threads) {
      const Read r = read_all(dir, threads);
      BOOST_TEST(r.issues.empty());
      BOOST_TEST_REQUIRE(r.resources.size() == 5u);
      const char* ids = "abcde";
      for (std::size_t i = 0; i < 5; ++i) {
        BOOST_TEST(r.resources[i].first == "Patient/" + std::string(1, ids[i]));
        BOOST_TEST(r.resources[i].second.ends_with("p.ndjson:" + std::to_string(i + 1)));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(a_line_over_the_limit_is_skipped_and_the_next_ones_read) {
  test::TempDir dir;
  dir.write("p.ndjson",
            test::patient("a") + "\n" + long_patient("big", 65u << 20) + "\n" + test::patient("c") + "\n");
  const Read r = read_all(dir, 2);
  BOOST_TEST_REQUIRE(r.resources.size() == 2u);
  BOOST_TEST(r.resources[0].first == "Patient/a");
  BOOST_TEST(r.resources[1].first == "Patient/c");
  BOOST_TEST(r.resources[1].second.ends_with("p.ndjson:3"));
  BOOST_TEST_REQUIRE(r.issues.size() == 1u);
  BOOST_TEST(r.issues[0].kind == "line-too-long",
             r.issues[0].kind << " at " << r.issues[0].location << ": " << r.issues[0].message);
  BOOST_TEST(r.issues[0].location.ends_with("p.ndjson:2"));
}

// The chunks of a file are numbered by the workers that split them (each learns its first line from the chunk
// before it): across many chunks, blank lines and a skipped line, every location is the line it came from,
// whatever the thread count.
BOOST_AUTO_TEST_CASE(lines_are_numbered_across_many_chunks) {
  test::TempDir dir;
  std::string text;
  std::map<std::string, std::size_t> expected;  // id -> line
  std::size_t line = 0;
  for (int i = 0; i < 12000; ++i) {  // about 12 MB: six read chunks
    const std::string id = "p" + std::to_string(i);
    if (i % 1000 == 7) {  // a blank line now and then
      text += "\n";
      ++line;
    }
    text += long_patient(id, 800) + "\n";
    expected[id] = ++line;
    if (i == 6500) {  // over the limit: reported at its line, and numbering goes on after it
      text += long_patient("big", 65u << 20) + "\n";
      ++line;
    }
  }
  const std::size_t big_line = expected.at("p6500") + 1;
  dir.write("p.ndjson", text);
  for (std::size_t threads : {1u, 2u, 4u}) {
    BOOST_TEST_CONTEXT("threads " << threads) {
      const Read r = read_all(dir, threads);
      BOOST_TEST_REQUIRE(r.resources.size() == expected.size());
      std::size_t wrong = 0;
      for (const auto& [key, location] : r.resources) {
        const std::string id = key.substr(std::string("Patient/").size());
        if (!location.ends_with("p.ndjson:" + std::to_string(expected.at(id))) && wrong++ < 5)
          BOOST_TEST(false, key << " at " << location << ", expected line " << expected.at(id));
      }
      BOOST_TEST(wrong == 0u);
      BOOST_TEST_REQUIRE(r.issues.size() == 1u);
      BOOST_TEST(r.issues[0].location.ends_with("p.ndjson:" + std::to_string(big_line)),
                 r.issues[0].location);
    }
  }
}

// Chunks are parsed on worker threads and handed on in file order by whichever worker finishes the one due
// next: the sink sees every resource in file order and is never called from two threads at once.
BOOST_AUTO_TEST_CASE(chunks_are_delivered_in_file_order_one_at_a_time) {
  test::TempDir dir;
  std::string text;
  std::vector<std::string> ids;
  for (int i = 0; i < 16000; ++i) {  // about 20 MB: ten read chunks
    ids.push_back("p" + std::to_string(i));
    // Lines of two lengths in runs, so that chunks differ in how many resources they parse and finish out
    // of order.
    text += long_patient(ids.back(), (i / 700) % 2 ? 2400 : 200) + "\n";
  }
  dir.write("p.ndjson", text);
  for (std::size_t threads : {2u, 4u}) {
    BOOST_TEST_CONTEXT("threads " << threads) {
      const auto src = source_over(dir, threads);
      IssueLog issues;
      std::atomic<int> inside{0};
      std::atomic<bool> overlapped{false};
      std::vector<std::string> got;
      auto st = src->read(
          [&](source::Page&& p) {
            if (inside.fetch_add(1) != 0) overlapped = true;
            std::this_thread::sleep_for(std::chrono::microseconds(300));  // room for another call to overlap
            for (const auto& r : p.resources) got.push_back(fhir::header(r).id);
            inside.fetch_sub(1);
          },
          issues);
      BOOST_TEST_REQUIRE(st.ok());
      BOOST_TEST(!overlapped.load());
      BOOST_TEST_REQUIRE(got.size() == ids.size());
      std::size_t first_wrong = got.size();
      for (std::size_t i = 0; i < got.size() && first_wrong == got.size(); ++i)
        if (got[i] != ids[i]) first_wrong = i;
      BOOST_TEST(first_wrong == got.size(), "first out of order at " << first_wrong);
      BOOST_TEST(src->stats().read_by_type.at("Patient") == ids.size());
    }
  }
}

// An exception from the sink (out of memory, say) ends the read with that exception, and nothing after it is
// delivered.
BOOST_AUTO_TEST_CASE(an_exception_from_the_sink_ends_the_read) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 16000; ++i) text += long_patient("p" + std::to_string(i), 1200) + "\n";
  dir.write("p.ndjson", text);
  for (std::size_t threads : {1u, 2u}) {
    BOOST_TEST_CONTEXT("threads " << threads) {
      const auto src = source_over(dir, threads);
      IssueLog issues;
      int calls = 0;
      BOOST_CHECK_THROW(src->read(
                            [&](source::Page&&) {
                              if (++calls == 3) throw std::runtime_error("sink failed");
                            },
                            issues),
                        std::runtime_error);
      BOOST_TEST(calls == 3);
    }
  }
}

BOOST_AUTO_TEST_CASE(resource_ids_follow_the_fhir_id_rule) {
  // [A-Za-z0-9\-\.]{1,64} (FHIR R4 "id")
  BOOST_TEST(fhir::valid_id("cc-001"));
  BOOST_TEST(fhir::valid_id("a.B-9"));
  BOOST_TEST(fhir::valid_id(std::string(64, 'x')));
  BOOST_TEST(!fhir::valid_id(""));
  BOOST_TEST(!fhir::valid_id(std::string(65, 'x')));
  for (const char* bad : {"a b", "a/b", "a_b", "a:b", "é", "a\nb", "a|b", "a%20b"})
    BOOST_TEST(!fhir::valid_id(bad), bad);
  BOOST_TEST(!fhir::valid_id(std::string_view("a\0b", 3)));
  BOOST_TEST(!fhir::valid_id("\xff"));
}

BOOST_AUTO_TEST_CASE(a_rejected_single_resource_file_marks_its_data_incomplete) {
  // The same as a rejected NDJSON line: what the file said is missing, for its patient or for everyone.
  auto completeness_after = [](const std::string& name, const std::string& text) {
    test::TempDir dir;
    dir.write(name, text);
    source::FileSource src(dir.path);
    IssueLog issues;
    BOOST_TEST_REQUIRE(src.read([](source::Page&&) {}, issues).ok());
    BOOST_TEST(!issues.issues().empty());
    return src.completeness();
  };
  const auto bad_id = completeness_after(
      "bad-id.json", R"({"resourceType":"Condition","id":"bad_id!","subject":{"reference":"Patient/p1"},)"
                     R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"91175000"}]}})");
  BOOST_TEST(bad_id.incomplete("p1", "Condition"));
  BOOST_TEST(!bad_id.incomplete("p2", "Condition"), "only its patient's");
  // A JSON file that is no FHIR resource at all (a Bulk manifest next to the data) loses nothing.
  const auto no_type = completeness_after("manifest.json", R"({"transactionTime":"2026-11-26T00:00:00Z"})");
  BOOST_TEST(no_type.complete());
  // A subject on another server is not taken for the local patient of that id, but may be theirs: that
  // patient's Observations are incomplete (a positive HBsAg there must not leave A-HBV "not met").
  const auto foreign = completeness_after(
      "foreign.ndjson", R"({"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":)"
                        R"("https://other.example.org/fhir/Patient/p1"},"code":{"text":"HBsAg"}})"
                        "\n");
  BOOST_TEST(foreign.incomplete("p1", "Observation"));
  BOOST_TEST(!foreign.incomplete("p2", "Observation"));
  // ... while the read itself is complete: the data are as the source holds them, so a state folder's
  // watermark moves on (one such resource, served again every night, must not hold every night incomplete).
  BOOST_TEST(foreign.complete());
}

BOOST_AUTO_TEST_CASE(a_delete_entry_hides_the_older_versions_of_its_resource) {
  // A history Bundle lists the newest first: x's DELETE comes after its newest version (v3, kept) and before
  // v1 (older than the deletion: not used); y is deleted for good; z is untouched.
  auto cond = [](const std::string& id, const std::string& version) {
    return R"({"resource":{"resourceType":"Condition","id":")" + id + R"(","meta":{"versionId":")" + version +
           R"("},"subject":{"reference":"Patient/p"},"code":{"text":"x"}},"request":{"method":"PUT","url":"Condition/)" +
           id + R"("}})";
  };
  auto del = [](const std::string& id) {
    return R"({"request":{"method":"DELETE","url":"Condition/)" + id + R"("}})";
  };
  test::TempDir dir;
  dir.write("history.json", R"({"resourceType":"Bundle","type":"history","entry":[)" + cond("x", "3") + "," +
                                del("x") + "," + cond("x", "1") + "," + del("y") + "," + cond("y", "1") +
                                "," + cond("z", "1") + "]}");
  const Read r = read_all(dir, 1);
  std::vector<std::string> keys;
  for (const auto& [key, where] : r.resources) keys.push_back(key + " " + where.substr(where.find(' ') + 1));
  BOOST_TEST(keys == (std::vector<std::string>{"Condition/x entry[0]", "Condition/z entry[5]"}),
             boost::test_tools::per_element());
  std::size_t deletions = 0;
  for (const auto& i : r.issues) deletions += i.kind == "deleted-in-bundle";
  BOOST_TEST(deletions == 4u);  // two DELETE entries, two older versions set aside
  // A conditional delete: which resources it removed is unknown, so Condition is incomplete.
  test::TempDir cond_dir;
  cond_dir.write("t.json", R"({"resourceType":"Bundle","type":"transaction","entry":[)"
                           R"({"request":{"method":"DELETE","url":"Condition?code=91175000"}}]})");
  source::FileSource src(cond_dir.path);
  IssueLog issues;
  BOOST_TEST_REQUIRE(src.read([](source::Page&&) {}, issues).ok());
  BOOST_TEST(src.completeness().incomplete("anyone", "Condition"));
  BOOST_TEST(!src.completeness().incomplete("anyone", "Observation"));
}

// {"reference":"p1","type":"Patient"} is no literal reference, but names its patient plainly: attributed, and
// said.
BOOST_AUTO_TEST_CASE(a_bare_id_reference_with_its_type_names_the_patient) {
  test::TempDir dir;
  dir.write("c.ndjson",
            R"({"resourceType":"Condition","id":"c1","subject":{"reference":"p1","type":"Patient"},)"
            R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"55464009"}]}})"
            "\n"
            R"({"resourceType":"Condition","id":"c2","subject":{"reference":"p2"},)"
            R"("code":{"coding":[{"system":"http://snomed.info/sct","code":"55464009"}]}})"
            "\n");
  source::FileSource src(dir.path);
  IssueLog issues;
  std::map<std::string, std::string> patient_of;
  BOOST_TEST_REQUIRE(src.read(
                            [&](source::Page&& p) {
                              for (auto& r : p.resources)
                                patient_of[fhir::header(r).id] = fhir::header(r).patient_id;
                            },
                            issues)
                         .ok());
  BOOST_TEST(patient_of["c1"] == "p1");
  BOOST_TEST(patient_of["c2"] == "", "without a type a bare id names nothing");
  std::set<std::string> kinds;
  for (const auto& i : issues.issues()) kinds.insert(i.kind);
  BOOST_TEST(kinds.count("bare-id-reference") == 1u);
  BOOST_TEST(kinds.count("unattributed-resource") == 1u);
}

// A data issue names the element it is about by its FHIR path, however deep: in a component, a reference
// range, an interpretation, a coding. (The paths are built only when there is an issue to report.)
BOOST_AUTO_TEST_CASE(issues_name_the_element_path_at_any_depth) {
  const std::string line =
      R"({"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":7},)"
      R"("code":{"coding":[{"system":"http://loinc.org","code":"718-7"},{"code":"HGB"},5]},)"
      R"("valueQuantity":{"value":"12"},)"
      R"("interpretation":[{"coding":[{"system":"s","code":"N"}]},{"coding":[{"code":"H"}]}],)"
      R"("referenceRange":[{"low":3},{"low":{"value":1},"high":{"value":"x"}}],)"
      R"("component":[{"code":{"coding":[{"code":"c0"}]},"interpretation":[2],)"
      R"("referenceRange":[{"low":{"value":"y"}}]},)"
      R"({"code":{"text":"c1"},"valueQuantity":{"value":"z"},"dataAbsentReason":4},)"
      R"({"code":{"text":"c2"},"valueRatio":{"numerator":"n","denominator":{"value":"d"}}},)"
      R"({"code":{"text":"c3"},"valueCodeableConcept":{"coding":[{"code":"pos"}]},"valueString":1}],)"
      R"("effectiveDateTime":"2024-13-01"})";
  json::Document doc;
  json::ParseError err;
  BOOST_TEST_REQUIRE(json::parse(line, doc, err), err.message);
  IssueLog issues;
  auto ex = fhir::extract_resource(doc, fhir::Origin{"obs.ndjson:1"}, issues);
  BOOST_TEST_REQUIRE(ex.resource.has_value());
  std::vector<std::string> paths;
  for (const auto& i : issues.issues()) paths.push_back(i.kind + " " + i.path);
  const std::vector<std::string> expected = {
      "wrong-type Observation.subject.reference",
      "coding-without-system Observation.code.coding[1]",
      "wrong-type Observation.code.coding[2]",
      "wrong-type Observation.valueQuantity.value",
      "coding-without-system Observation.interpretation[1].coding[0]",
      "wrong-type Observation.referenceRange[0].low",
      "wrong-type Observation.referenceRange[1].high.value",
      "invalid-date Observation.effectiveDateTime",
      "coding-without-system Observation.component[0].code.coding[0]",
      "wrong-type Observation.component[0].interpretation[0]",
      "wrong-type Observation.component[0].referenceRange[0].low.value",
      "wrong-type Observation.component[1].valueQuantity.value",
      "wrong-type Observation.component[1].dataAbsentReason",
      "wrong-type Observation.component[2].valueRatio.numerator",
      "wrong-type Observation.component[2].valueRatio.denominator.value",
      "coding-without-system Observation.component[3].valueCodeableConcept.coding[0]"};
  BOOST_TEST(paths == expected, boost::test_tools::per_element());
}
