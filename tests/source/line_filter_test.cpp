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
  std::string_view type;
  return filter().check(line, type);
}

// Every NDJSON line of the demo data, the corpus slice in the repository and, where it is present, the whole
// shared corpus.
std::vector<std::string> corpus_lines() {
  std::vector<std::string> lines;
  for (const fs::path& root : {test::repo() / "fhir-samples", test::repo() / "tests/data/corpus-slice",
                               fs::path(COHORT_SHARED_DIR) / "fhir-corpus"}) {
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

// The resource a line holds, when it parses and is of a type the tool reads.
std::optional<fhir::Extracted> read_line(const std::string& line) {
  json::Document doc;
  json::ParseError err;
  IssueLog issues;
  if (!json::parse(line, doc, err)) return std::nullopt;
  auto ex = fhir::extract_resource(doc, fhir::Origin{"test"}, issues);
  if (!ex.resource) return std::nullopt;
  return ex;
}

}  // namespace

BOOST_AUTO_TEST_CASE(fast_and_careful_paths_agree_on_every_corpus_line) {
  const auto lines = corpus_lines();
  BOOST_TEST_REQUIRE(lines.size() > 500u);
  std::size_t fast = 0, fast_escaped = 0, skipped = 0;
  for (const auto& l : lines) {
    // A leading space keeps the line valid JSON but sends it down the careful path.
    const V a = verdict(l), b = verdict(" " + l);
    BOOST_TEST((a == b), "verdicts differ for " << l.substr(0, 120));
    const bool single_pass = l.rfind("{\"resourceType\":\"", 0) == 0 && l.find("\\u") == std::string::npos;
    fast += single_pass && l.find('\\') == std::string::npos;
    fast_escaped += single_pass && l.find('\\') != std::string::npos;
    skipped += a == V::irrelevant;
  }
  BOOST_TEST(fast > 100u);         // the fast path was exercised
  BOOST_TEST(fast_escaped > 10u);  // also on lines with escapes (narrative divs)
  BOOST_TEST(skipped > 100u);      // and it skipped something
}

// What the Collector keeps (terminology/patient_record.cpp): a coded resource whose code matches a concept of
// a kind its type can carry, and a medication use unless its codes name another drug (see the drug lines
// below).
BOOST_AUTO_TEST_CASE(skipped_lines_match_no_concept) {
  auto terms = test::terms();
  std::map<std::string, std::size_t> checked;
  for (const auto& l : corpus_lines()) {
    if (verdict(l) != V::irrelevant) continue;
    const auto ex = read_line(l);  // fhir-samples/malformed: a skipped line is not read at all
    if (!ex) continue;
    const fhir::Resource& r = *ex->resource;
    if (const auto* code = fhir::code_of(r)) {
      const auto type = fhir::header(r).type;
      for (const auto& m : terms->match(*code))
        BOOST_TEST(!terminology::kind_fits(m.con->kind, type),
                   "a skipped line matches " << m.con->id << ": " << l.substr(0, 160));
    }
    if (auto* mu = std::get_if<fhir::MedicationUse>(&r)) {
      BOOST_TEST(!terms->match_medication(mu->medication).has_value(), "a skipped drug matches: " << l);
      BOOST_TEST(mu->medication_reference.empty(), "a skipped drug is a reference: " << l.substr(0, 160));
      BOOST_TEST(terms->names_other_drug(mu->medication), "a skipped drug is unidentified: " << l);
    }
    ++checked[ex->type_name];
  }
  for (const char* type : {"Observation", "Condition", "Procedure", "MedicationRequest"})
    BOOST_TEST(checked[type] > 10u, type << " lines skipped and checked: " << checked[type]);
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
  BOOST_TEST((verdict(sodium) == V::irrelevant));
  // The same code as the value of another key is not a code.
  BOOST_TEST((verdict(head + R"("note":[{"text":"2160-0"}],)" + subject) == V::irrelevant));
  // Whitespace around the colon still finds the code.
  BOOST_TEST((verdict(head + R"("code" : {"coding":[{"code" :  "2160-0"}]},)" + subject) == V::parse));
  // A mapped text pattern (concepts.json "SLEDAI") in code.text, in another case, is found.
  BOOST_TEST((verdict(head + R"("code":{"text":"Sledai-2K total"},)" + subject) == V::parse));
  BOOST_TEST(
      (verdict(head + R"("code":{"coding":[{"display":"the SLEDAI score"}]},)" + subject) == V::parse));
  // An escaped character anywhere: parsed, since escapes could hide a code or a pattern.
  BOOST_TEST((verdict(head + R"("code":{"text":"\u0053LEDAI"},)" + subject) == V::parse));
  // Backslashes without \u keep the single pass: a narrative with escaped quotes and an unmapped code is
  // skipped; a mapped code after it is found; a key-like text inside an escaped string is harmless; a code or
  // display value with an escape in it, or one cut off by the end of the line, is parsed.
  const std::string div =
      R"("text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">)"
      R"(\"code\":\"2160-0\" \"text\"</div>"},)";
  BOOST_TEST((verdict(head + div + R"("code":{"coding":[{"code":"2947-0"}]},)" + subject) == V::irrelevant));
  BOOST_TEST((verdict(head + div + R"("code":{"coding":[{"code":"2160-0"}]},)" + subject) == V::parse));
  BOOST_TEST((verdict(head + R"("code":{"coding":[{"code":"2947\/0"}]},)" + subject) == V::parse));
  BOOST_TEST((verdict(head + R"("code":{"coding":[{"code":"2947-0","display":"a \"b\""}]},)" + subject) ==
              V::parse));
  BOOST_TEST((verdict(head + R"("code":{"coding":[{"code":"2947-0)") == V::parse));
  BOOST_TEST((verdict(head + div + R"("code":{"text":"\u0053LEDAI"},)" + subject) == V::parse));
  // A key spelled with a \u escape hides its code from the single pass, which must see the escape wherever
  // it falls in the line.
  for (std::size_t pad = 0; pad < 80; ++pad) {
    const std::string note = R"("note":[{"text":")" + std::string(pad, 'x') + R"("}],)";
    BOOST_TEST((verdict(head + note + R"("code":{"coding":[{"\u0063ode":"2160-0"}]}})") == V::parse),
               "pad " << pad);
    BOOST_TEST((verdict(head + note + R"("code":{"coding":[{"code":"2947-0"}]}})") == V::irrelevant));
  }
  // A resource type the pipeline does not read; a type it reads but does not filter.
  std::string_view type;
  BOOST_TEST((filter().check(R"({"resourceType":"Encounter","id":"e"})", type) == V::other_type));
  BOOST_TEST(type == "Encounter");
  BOOST_TEST((verdict(R"({"resourceType":"Patient","id":"p"})") == V::parse));
  // Not starting with resourceType: the careful path (no mapped code in it: skipped); not JSON at all:
  // parsed.
  BOOST_TEST((verdict(R"({"id":"x","resourceType":"Observation"})") == V::irrelevant));
  BOOST_TEST((verdict("not json") == V::parse));
  BOOST_TEST((verdict(R"({"resourceType":"Observ)") == V::parse));
  // A line cut short before its code came is parsed (the parser reports it), not skipped as irrelevant; one
  // that ends as an object does, followed by blanks, is screened as usual.
  BOOST_TEST((verdict(head + R"("subject":{"reference":"Patient/p1"},)") == V::parse));
  BOOST_TEST((verdict(R"({"id":"x","resourceType":"Observation",)") == V::parse));
  BOOST_TEST((verdict(sodium + "  \t") == V::irrelevant));
}

BOOST_AUTO_TEST_CASE(conditions_procedures_and_drugs_are_screened_too) {
  const std::string cond = R"({"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},)";
  auto coded = [&](std::string_view system, std::string_view code) {
    return cond + R"("code":{"coding":[{"system":")" + std::string(system) + R"(","code":")" +
           std::string(code) + R"("}]}})";
  };
  const std::string icd = "http://hl7.org/fhir/sid/icd-10-cm";
  // SLE by ICD-10 prefix M32.1, with and without the dot the terminology inserts; by a range (F20-F29).
  for (const char* c : {"M32.14", "M3214", "M32.8", "M328", "F25.0", "F250"}) {
    BOOST_TEST((verdict(coded(icd, c)) == V::parse), c);
    BOOST_TEST((verdict(" " + coded(icd, c)) == V::parse), c);
  }
  // China's national ICD-10 extends the WHO code ("M32.900", "Z99.200"); marks follow some codes ("M32.1+").
  const std::string cn = "urn:oid:2.16.156.10011.2.3.3.11";
  for (const char* c : {"M32.900", "M32.101", "Z99.200", "M32.1+"}) {
    BOOST_TEST((verdict(coded(cn, c)) == V::parse), c);
    BOOST_TEST((verdict(" " + coded(cn, c)) == V::parse), c);
  }
  // An unmapped diagnosis (urinary tract infection) and a code just outside the range: skipped.
  for (const char* c : {"N39.0", "N390", "F30.1", "K358", "N39.000"}) {
    BOOST_TEST((verdict(coded(icd, c)) == V::irrelevant), c);
    BOOST_TEST((verdict(" " + coded(icd, c)) == V::irrelevant), c);
  }
  // A mapped code behind a carriage return before the colon (JSON whitespace inside a line): parsed.
  BOOST_TEST((verdict(cond + R"("code":{"coding":[{"system":")" + icd + "\",\"code\"\r:\"M32.14\"}]}}") ==
              V::parse));
  // A mapped text ("systemic lupus") without a mapped code; an escaped code: parsed.
  BOOST_TEST((verdict(cond + R"("code":{"text":"Systemic Lupus, flare"}})") == V::parse));
  BOOST_TEST((verdict(cond + R"("code":{"coding":[{"code":"N39\/0"}]}})") == V::parse));

  const std::string mr =
      R"({"resourceType":"MedicationRequest","id":"m1","subject":{"reference":"Patient/p1"},)";
  // Hydroxychloroquine by RxNorm code; prednisone by name only; a drug given by reference: parsed.
  BOOST_TEST((verdict(mr + R"("medicationCodeableConcept":{"coding":[{"code":"5521"}]}})") == V::parse));
  BOOST_TEST((verdict(mr + R"("medicationCodeableConcept":{"text":"Prednisone 5 mg"}})") == V::parse));
  BOOST_TEST((verdict(mr + R"("medicationReference":{"reference":"#med"}})") == V::parse));
  BOOST_TEST((verdict(" " + mr + R"("medicationReference":{"reference":"Medication/x"}})") == V::parse));
  // A drug no mapping knows (ibuprofen here; a brand or an unmapped local code elsewhere) is parsed too: the
  // criteria need to know that an unidentified drug is taken ("glucocorticoid alone" in I6d).
  const std::string ibuprofen =
      mr + R"("medicationCodeableConcept":{"coding":[{"code":"310965","display":"ibuprofen 200 MG"}]}})";
  BOOST_TEST((verdict(ibuprofen) == V::parse));
  BOOST_TEST((verdict(" " + ibuprofen) == V::parse));
  // Skipped: a drug whose medicationCodeableConcept names another drug (RxNorm with its name, an ATC code
  // outside the mapped drugs' groups), as finish_partition would drop it after parsing. The names among long
  // dosage instructions do not matter.
  const std::string rx = R"({"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"310965",)";
  const std::string dosage = R"(,"dosageInstruction":[{"text":"1 tablet as needed","route":{"coding":[)"
                             R"({"system":"http://snomed.info/sct","code":"26643006","display":"Oral"}]}}])";
  for (
      const std::string& other :
      {mr + R"("medicationCodeableConcept":{"coding":[)" + rx + R"("display":"ibuprofen 200 MG"}]})" +
           dosage + "}",
       mr + R"("medicationCodeableConcept" : {"coding":[{"code":"x1"},)" + rx +
           R"("display":"ibuprofen"}]}})",
       mr +
           R"("medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":"M01AE01"}]}})",
       // a key spelled inside a string (an unmapped brand there) is no top-level member
       mr +
           R"("note":[{"authorString":"\"medicationCodeableConcept\":{\"coding\":[{\"code\":\"L1\"}]}"}],)"
           R"("medicationCodeableConcept":{"coding":[)" +
           rx + R"("display":"x"}]}})"}) {
    BOOST_TEST((verdict(other) == V::irrelevant), other);
    BOOST_TEST((verdict(" " + other) == V::irrelevant), other);
  }
  std::string_view type;
  const std::string named = mr + R"("medicationCodeableConcept":{"coding":[)" + rx + R"("display":"x"}]}})";
  BOOST_TEST((filter().check(named, type) == V::irrelevant));
  BOOST_TEST(type == "MedicationRequest");  // a view into `named`, which must outlive it
  // Parsed: whatever leaves the drug unnamed or the concept in doubt.
  for (
      const std::string& kept :
      {// RxNorm without its name; an ATC code in a mapped drug's group (H02: corticosteroids)
       mr + R"("medicationCodeableConcept":{"coding":[)" + rx + R"("display":""}]}})",
       mr +
           R"("medicationCodeableConcept":{"coding":[{"system":"http://www.whocc.no/atc","code":"H02AB99"}]}})",
       // the RxNorm coding is not the drug's: in an extension, in a contained resource, in a string
       mr +
           R"("medicationCodeableConcept":{"coding":[{"code":"L1"}]},"extension":[{"url":"u",)"
           R"("valueCodeableConcept":{"coding":[)" +
           rx + R"("display":"x"}]}}]})",
       mr + R"("contained":[{"resourceType":"MedicationRequest","medicationCodeableConcept":{"coding":[)" +
           rx + R"("display":"x"}]}}]})",
       mr + R"("note":[{"authorString":"\"medicationCodeableConcept\":{\"coding\":[)" +
           R"({\"system\":\"http://www.nlm.nih.gov/research/umls/rxnorm\",\"code\":\"1\",\"display\":\"x\"}]}"}],)"
           R"("medicationCodeableConcept":{"text":"Brand 5"}})",
       // the subject: on another server (parsed, that patient's drugs are incomplete), missing, not a Patient
       R"({"resourceType":"MedicationRequest","id":"m1","subject":{"reference":"https://other.example/fhir/Patient/p1"},)"
       R"("medicationCodeableConcept":{"coding":[)" +
           rx + R"("display":"x"}]}})",
       R"({"resourceType":"MedicationRequest","id":"m1","medicationCodeableConcept":{"coding":[)" + rx +
           R"("display":"x"}]}})",
       R"({"resourceType":"MedicationRequest","id":"m1","subject":{"reference":"Group/g1"},)"
       R"("medicationCodeableConcept":{"coding":[)" +
           rx + R"("display":"x"}]}})",
       // a mapped code or name behind a carriage return (JSON whitespace) before the colon
       mr +
           R"("medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm",)"
           "\"code\"\r:\"5521\",\"display\":\"x\"}]}}",
       mr + R"("medicationCodeableConcept":{"coding":[)" + rx + "\"display\"\r :\"Prednisone 5 mg\"}]}}",
       // the key twice (the parser rejects the line); an escaped key and a line cut short (both parsed
       // before the drug is looked at: any \u escape, and a line not ending as an object, are)
       mr + R"("medicationCodeableConcept":{"coding":[)" + rx +
           R"("display":"x"}]},"medicationCodeableConcept":{}})",
       mr + R"("medicationCode\u0061bleConcept":{"coding":[)" + rx + R"("display":"x"}]}})",
       mr + R"("medicationCodeableConcept":{"coding":[)" + rx + R"("display":"x"}]})",
       // not a CodeableConcept; invalid inside
       mr + R"("medicationCodeableConcept":"ibuprofen"})",
       mr + R"("medicationCodeableConcept":{"coding":[)" + rx + R"("display":"x",}]}})"}) {
    BOOST_TEST((verdict(kept) == V::parse), kept);
    BOOST_TEST((verdict(" " + kept) == V::parse), kept);
  }
  // Medication resources and Patients are never screened.
  BOOST_TEST((verdict(R"({"resourceType":"Medication","id":"x","code":{"text":"ibuprofen"}})") == V::parse));
}

// Code ranges are tried only for codes whose first byte lies between a range's bounds' first bytes: a range
// across letters (A10-C20) still takes B-codes, and an empty bound takes every code.
BOOST_AUTO_TEST_CASE(code_ranges_across_first_letters) {
  auto screened = [](std::vector<std::pair<std::string, std::string>> ranges, std::string_view code) {
    source::LineFilterConfig c;
    c.read_types = {"Condition"};
    c.screens["Condition"].ranges = std::move(ranges);
    const source::LineFilter f(std::move(c));
    const std::string line =
        R"({"resourceType":"Condition","code":{"coding":[{"code":")" + std::string(code) + R"("}]}})";
    std::string_view type;
    return f.check(line, type);
  };
  for (const char* code : {"A10", "A10.1", "B00", "B999", "C20", "C20.9"})
    BOOST_TEST((screened({{"A10", "C20"}}, code) == V::parse), code);
  for (const char* code : {"A09", "C21", "D00", "a10", "010", "Z"})
    BOOST_TEST((screened({{"A10", "C20"}}, code) == V::irrelevant), code);
  BOOST_TEST((screened({{"Q", "Q"}, {"A10", "C20"}}, "B50") == V::parse));
  BOOST_TEST((screened({{"", "C20"}}, "0") == V::parse));
  BOOST_TEST((screened({{"A10", ""}}, "A10") == V::parse));
}

// text_matches() remembers its answers per thread: they must never leak from one screen (or one filter, even
// one built where a destroyed one was) to another.
BOOST_AUTO_TEST_CASE(remembered_text_answers_belong_to_their_screen) {
  auto make = [](const std::string& text) {
    source::LineFilterConfig c;
    c.read_types.insert("Observation");
    source::CodeScreen s;
    s.texts = {text};
    c.screens.emplace("Observation", std::move(s));
    return std::make_unique<source::LineFilter>(std::move(c));
  };
  const std::string line = R"({"resourceType":"Observation","code":{"text":"Anti-dsDNA antibody"}})";
  std::string_view type;
  for (int round = 0; round < 3; ++round) {
    auto a = make("dsdna");
    auto b = make("creatinine");
    BOOST_TEST((a->check(line, type) == V::parse));
    BOOST_TEST((b->check(line, type) == V::irrelevant));
    BOOST_TEST((a->check(line, type) == V::parse));
    a.reset();
    auto c = make("creatinine");  // may take a's place in memory
    BOOST_TEST((c->check(line, type) == V::irrelevant));
    // Each thread remembers a filter's last type and screen: a filter that does not read Observations, and
    // one without a screen for them, between the others, each get their own answer.
    source::LineFilterConfig none;
    none.read_types.insert("Patient");
    const source::LineFilter other(std::move(none));
    source::LineFilterConfig unscreened;
    unscreened.read_types.insert("Observation");
    const source::LineFilter all(std::move(unscreened));
    BOOST_TEST((other.check(line, type) == V::other_type));
    BOOST_TEST((b->check(line, type) == V::irrelevant));
    BOOST_TEST((all.check(line, type) == V::parse));
    BOOST_TEST((other.check(line, type) == V::other_type));
    BOOST_TEST((c->check(line, type) == V::irrelevant));
  }
}

// The remembered answers are found by a hash of a text's first and last bytes and its length: texts that
// differ only in their middle share a slot and must still get their own answers, and texts too long for a
// slot are looked at every time.
BOOST_AUTO_TEST_CASE(remembered_text_answers_tell_apart_texts_with_one_hash) {
  source::LineFilterConfig c;
  c.read_types.insert("Observation");
  source::CodeScreen s;
  s.texts = {"dsdna"};
  c.screens.emplace("Observation", std::move(s));
  const source::LineFilter f(std::move(c));
  auto line = [](const std::string& text) {
    return R"({"resourceType":"Observation","code":{"text":")" + text + R"("}})";
  };
  const std::string long_text = std::string(200, 'x') + " anti-dsDNA";
  std::string_view type;
  for (int round = 0; round < 3; ++round) {
    BOOST_TEST((f.check(line("aaaaaaaa dsdna bbbbbbbb"), type) == V::parse));
    BOOST_TEST((f.check(line("aaaaaaaa other bbbbbbbb"), type) == V::irrelevant));
    BOOST_TEST((f.check(line(long_text), type) == V::parse));
    BOOST_TEST((f.check(line(std::string(200, 'x') + " creatinine"), type) == V::irrelevant));
  }
}

// The Collector keeps a coded resource when Terminology::means_any says so; the criteria then read the
// matches match() builds. Both must see the same concepts, on every coded resource of the corpus.
BOOST_AUTO_TEST_CASE(means_any_agrees_with_match_on_every_corpus_resource) {
  auto terms = test::terms();
  std::size_t checked = 0, kept = 0;
  for (const auto& l : corpus_lines()) {
    const auto ex = read_line(l);
    const fhir::CodeableConcept* code = ex ? fhir::code_of(*ex->resource) : nullptr;
    if (!code) continue;
    const auto type = fhir::header(*ex->resource).type;
    bool any = false;
    for (const auto& m : terms->match(*code)) any = any || terminology::kind_fits(m.con->kind, type);
    BOOST_TEST(terms->means_any(*code, type) == any, l.substr(0, 160));
    ++checked;
    kept += any;
  }
  BOOST_TEST(checked > 500u);
  BOOST_TEST(kept > 20u);
}
