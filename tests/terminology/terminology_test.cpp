#define BOOST_TEST_MODULE terminology
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include "core/text.hpp"
#include "json/json.hpp"
#include "support/scenario.hpp"
#include "terminology/values.hpp"

using namespace cf;
using namespace cf::terminology;
namespace bdata = boost::unit_test::data;

BOOST_AUTO_TEST_CASE(codes_map_to_concepts) {
  auto t = test::terms();
  auto m = t->match(fhir::CodeableConcept{{{"http://hl7.org/fhir/sid/icd-10-cm", "M32.14", ""}}, ""});
  BOOST_REQUIRE(m.size() >= 1u);
  BOOST_TEST(m[0].con->id == "sle");
  BOOST_TEST(!m[0].low_confidence);
  BOOST_TEST(
      t->match(fhir::CodeableConcept{{{"http://hl7.org/fhir/sid/icd-10-cm", "M32.0", ""}}, ""}).empty());
  BOOST_TEST(
      t->match(fhir::CodeableConcept{{{"http://hl7.org/fhir/sid/icd-10-cm", "M329", ""}}, ""})[0].con->id ==
      "sle");
  // China's national ICD-10 (codes extended after the fourth character, marks) and systems sent by OID.
  for (const auto& [system, code, want] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"urn:oid:2.16.156.10011.2.3.3.11", "M32.900", "sle"},
           {"urn:oid:2.16.156.10011.2.3.3.11", "M32.101+", "sle"},
           {"urn:oid:2.16.156.10011.2.3.3.11", "Z99.200", "dialysis"},
           {"urn:oid:2.16.840.1.113883.6.90", "M32.9", "sle"},
           {"urn:oid:2.16.840.1.113883.6.96", "70536003", "transplant"},
           {"https://snomed.info/sct", "55464009", "sle"},
           {"urn:oid:2.16.840.1.113883.6.1", "14682-9", "creatinine"}}) {
    auto found = t->match(fhir::CodeableConcept{{{system, code, ""}}, ""});
    BOOST_TEST_REQUIRE(!found.empty(), system + " " + code);
    BOOST_TEST(found[0].con->id == want, system + " " + code);
  }
  // ICD-10-CM's own longer codes are not cut: M32.14 stays M32.14 (its rule is a prefix M32.1 anyway), and a
  // CM code M32.0 (drug-induced) is not read as an extension of anything.
  BOOST_TEST(
      t->match(fhir::CodeableConcept{{{"urn:oid:2.16.156.10011.2.3.3.11", "M32.000", ""}}, ""}).empty());
  auto generic = t->match(fhir::CodeableConcept{{{"http://snomed.info/sct", "200936003", ""}}, ""});
  BOOST_TEST(generic[0].low_confidence);
  // Right display, wrong system: never matched on display (RELIABILITY D6).
  BOOST_TEST(
      t->match(fhir::CodeableConcept{{{"http://example.org/other", "2160-0", "Creatinine"}}, ""}).empty());
  auto mal = t->match(fhir::CodeableConcept{{{"http://hl7.org/fhir/sid/icd-10-cm", "C44.9", ""}}, ""});
  BOOST_TEST(mal.empty());  // excluded from malignancy
  BOOST_TEST(
      t->match(fhir::CodeableConcept{{{"http://hl7.org/fhir/sid/icd-10-cm", "C50.9", ""}}, ""})[0].con->id ==
      "malignancy");
  auto local = t->match(
      fhir::CodeableConcept{{{"http://hospital.example.org/fhir/CodeSystem/lab-test", "CREA", ""}}, ""});
  BOOST_TEST(local[0].con->id == "creatinine");
}

// Codes the map marks "verified": false (written from memory, CRITERIA.md 6) still match, and every match
// says so in its rule, which the evidence shows; verified codes and codes without the flag do not carry the
// note.
BOOST_AUTO_TEST_CASE(unverified_codes_say_so_in_their_rule) {
  auto t = test::terms();
  auto unverified = t->match(fhir::CodeableConcept{{{"http://loinc.org", "2160-0", ""}}, ""});
  BOOST_REQUIRE(unverified.size() == 1u);
  BOOST_TEST(unverified[0].con->id == "creatinine");
  BOOST_TEST(unverified[0].rule == "concepts.json creatinine: loinc 2160-0 (code not verified)");
  auto verified = t->match(fhir::CodeableConcept{{{"http://loinc.org", "14682-9", ""}}, ""});
  BOOST_REQUIRE(verified.size() == 1u);
  BOOST_TEST(verified[0].rule == "concepts.json creatinine: loinc 14682-9");
  auto local = t->match(
      fhir::CodeableConcept{{{"http://hospital.example.org/fhir/CodeSystem/lab-test", "CREA", ""}}, ""});
  BOOST_REQUIRE(local.size() == 1u);
  BOOST_TEST(local[0].rule.find("not verified") == std::string::npos);
  auto drug = t->match_medication(
      fhir::CodeableConcept{{{"http://www.nlm.nih.gov/research/umls/rxnorm", "6902", ""}}, ""});
  BOOST_REQUIRE(drug.has_value());
  BOOST_TEST(drug->rule == "medications.json methylprednisolone: rxnorm 6902 (code not verified)");
  auto sure = t->match_medication(
      fhir::CodeableConcept{{{"http://www.nlm.nih.gov/research/umls/rxnorm", "8640", ""}}, ""});
  BOOST_REQUIRE(sure.has_value());
  BOOST_TEST(sure->rule == "medications.json prednisone: rxnorm 8640");
}

// A drug named in text only is matched by the longest ingredient name it holds: "methylprednisolone" holds
// "prednisolone" and "hydrocortisone" holds "cortisone", both listed before them.
BOOST_AUTO_TEST_CASE(drug_names_match_the_longest_ingredient_name) {
  auto t = test::terms();
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"Methylprednisolone 4 mg tablet", "methylprednisolone"},
           {"prednisolone 5 mg", "prednisolone"},
           {"Hydrocortisone 10 mg", "hydrocortisone"},
           {"cortisone acetate 25 mg", "cortisone"}}) {
    auto m = t->match_medication(fhir::CodeableConcept{{}, text});
    BOOST_TEST_REQUIRE(m.has_value(), text);
    BOOST_TEST(m->ingredient->id == want, text);
    BOOST_TEST(m->low_confidence);
  }
}

// The one-pass name search picks what the plain rule picks: of the names found in the text or any display,
// the longest; between names of one length, the first listed; its text is the first that holds it. Every pair
// of the ingredient names of medications.json, in either order, in the text or a display.
BOOST_AUTO_TEST_CASE(drug_name_search_agrees_with_the_plain_rule) {
  auto t = test::terms();
  std::ifstream in(test::repo() / "mappings" / "medications.json", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json::Document doc;
  json::ParseError err;
  BOOST_TEST_REQUIRE(json::parse(text, doc, err));
  std::vector<std::pair<std::string, std::string>> names;  // lower case -> ingredient, in file order
  json::for_each(json::member(doc, "ingredients"), [&](std::size_t, const json::Value& ing) {
    json::for_each(json::member(ing, "names"), [&](std::size_t, const json::Value& n) {
      names.emplace_back(to_lower_ascii(*json::string(&n)),
                         std::string(*json::string(json::member(ing, "id"))));
    });
  });
  BOOST_TEST_REQUIRE(names.size() > 20u);
  std::size_t checked = 0;
  for (const auto& [a, ia] : names)
    for (const auto& [b, ib] : names) {
      fhir::CodeableConcept cc{{fhir::Coding{"urn:local", "x", "Tab " + b + " 5mg"}}, "Inj. " + a + "/" + b};
      const std::vector<std::string> texts{to_lower_ascii(cc.text), to_lower_ascii(cc.codings[0].display)};
      const std::pair<std::string, std::string>* want = nullptr;
      const std::string* want_text = nullptr;
      for (const auto& name : names)
        for (const auto& tx : texts)
          if ((!want || name.first.size() > want->first.size()) && tx.find(name.first) != std::string::npos) {
            want = &name;
            want_text = &tx;
          }
      auto m = t->match_medication(cc);
      BOOST_TEST_REQUIRE(m.has_value(), cc.text);
      BOOST_TEST(m->ingredient->id == want->second, cc.text);
      BOOST_TEST(m->display == *want_text, cc.text);
      BOOST_TEST(m->rule.find("name contains '" + want->first + "'") != std::string::npos, m->rule);
      ++checked;
    }
  BOOST_TEST(checked == names.size() * names.size());
}

// An empty drug name or concept text would be found in every text (and the line filter cannot look for
// it): the mappings are refused, naming the element.
BOOST_AUTO_TEST_CASE(empty_names_and_texts_are_refused) {
  auto with = [](const std::string& file, const std::string& from, const std::string& to) {
    test::TempDir dir;
    std::filesystem::copy(test::repo() / "mappings", dir.path, std::filesystem::copy_options::recursive);
    std::ifstream in(dir.path / file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    BOOST_TEST_REQUIRE(text.find(from) != std::string::npos, from);
    text.replace(text.find(from), from.size(), to);
    dir.write(file, text);
    auto loaded = Terminology::load(dir.path);
    return loaded ? std::string("loaded") : loaded.error().what();
  };
  BOOST_TEST(with("medications.json", R"("names": ["prednisone")", R"("names": ["", "prednisone")")
                 .find("medications.json ingredients[0].names[0]: empty name") != std::string::npos);
  BOOST_TEST(with("concepts.json", R"("text": ["SLEDAI"])", R"("text": ["SLEDAI", ""])").find("empty text") !=
             std::string::npos);
  BOOST_TEST(with("local/example-hospital.json", R"("text": "抗双链DNA")", R"("text": "")")
                 .find("concept_text[0].text: empty text") != std::string::npos);
  BOOST_TEST(with("medications.json", R"("names": ["prednisone")", R"("names": ["pred")") == "loaded");
}

// Entries a review added (063df64): quinacrine is an antimalarial known by name only (also as mepacrine), and
// ofatumumab (anti-CD20) is found by either of its ATC codes (L04AG12, and L01FA02 as CRITERIA 4.5 lists it).
BOOST_AUTO_TEST_CASE(quinacrine_and_ofatumumab_are_in_their_classes) {
  auto t = test::terms();
  auto has = [](const Ingredient* i, const std::string& cls) {
    return std::find(i->classes.begin(), i->classes.end(), cls) != i->classes.end();
  };
  for (const std::string text : {"Quinacrine 100 mg tablet", "mepacrine 100mg"}) {
    auto m = t->match_medication(fhir::CodeableConcept{{}, text});
    BOOST_TEST_REQUIRE(m.has_value(), text);
    BOOST_TEST(m->ingredient->id == "quinacrine", text);
    BOOST_TEST(has(m->ingredient, "antimalarial"), text);
  }
  for (const std::string code : {"L04AG12", "L01FA02"}) {
    auto m = t->match_medication(fhir::CodeableConcept{{{"http://www.whocc.no/atc", code, ""}}, ""});
    BOOST_TEST_REQUIRE(m.has_value(), code);
    BOOST_TEST(m->ingredient->id == "ofatumumab", code);
    BOOST_TEST(has(m->ingredient, "biologic"), code);
    BOOST_TEST(!m->low_confidence, code);
  }
}

// Glucocorticoid equivalences are the tables' pairs, kept exact: dexamethasone 0.75 mg and betamethasone
// 0.6 mg each equal prednisone 5 mg. A factor is read as before; a pair with a zero or a word in it is
// refused with the file and the field.
BOOST_AUTO_TEST_CASE(prednisone_equivalences_are_kept_as_the_tables_pairs) {
  auto t = test::terms();
  auto factor = [&](const std::string& id) { return t->ingredient(id)->prednisone_mg_per_mg; };
  BOOST_TEST_REQUIRE(factor("dexamethasone").has_value());
  BOOST_TEST(factor("dexamethasone")->text() == "5/0.75");
  BOOST_TEST(factor("betamethasone")->text() == "5/0.6");
  BOOST_TEST(factor("methylprednisolone")->text() == "1.25");
  BOOST_TEST(factor("deflazacort")->text() == "5/6");
  BOOST_TEST(!factor("hydroxychloroquine").has_value());
  // The real maps with dexamethasone's pair replaced.
  std::ifstream in(test::repo() / "mappings" / "medications.json", std::ios::binary);
  const std::string meds((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string dex = R"("prednisone_mg_per_mg": "5/0.75")";
  BOOST_TEST_REQUIRE(meds.find(dex) != std::string::npos);
  for (const auto& [value, ok] : std::vector<std::pair<std::string, bool>>{{R"("5/0.75")", true},
                                                                           {R"("1.25")", true},
                                                                           {"2", true},
                                                                           {R"("5/0")", false},
                                                                           {R"("0")", false},
                                                                           {R"("5/x")", false},
                                                                           {R"("-1")", false},
                                                                           {R"("/2")", false}}) {
    test::TempDir dir;
    std::filesystem::copy(test::repo() / "mappings", dir.path, std::filesystem::copy_options::recursive);
    std::string text = meds;
    text.replace(text.find(dex), dex.size(), R"("prednisone_mg_per_mg": )" + value);
    dir.write("medications.json", text);
    auto loaded = Terminology::load(dir.path);
    BOOST_TEST(static_cast<bool>(loaded) == ok, value);
    if (!ok && !loaded)
      BOOST_TEST(loaded.error().what().find("medications.json ingredients[3].prednisone_mg_per_mg") !=
                     std::string::npos,
                 loaded.error().what());
  }
}

// Text needles are matched against CodeableConcept.text, then each display; which needles a text holds is
// remembered per thread, so asking again must give the same matches, in the same order.
BOOST_AUTO_TEST_CASE(text_matches_are_the_same_when_asked_again) {
  auto t = test::terms();
  const fhir::CodeableConcept cc{{{"http://example.org/local", "X1", "Kidney TRANSPLANT, then Haemodialysis"},
                                  {"http://example.org/local", "X2", "systemic lupus"}},
                                 "Systemic Lupus (history)"};
  auto describe = [](const std::vector<Match>& ms) {
    std::string out;
    for (const auto& m : ms) out += m.con->id + "|" + m.display + "|" + m.rule + "\n";
    return out;
  };
  const auto first = t->match(cc);
  std::set<std::string> ids;
  for (const auto& m : first) {
    BOOST_TEST(m.low_confidence);
    ids.insert(m.con->id);
  }
  BOOST_TEST(ids.count("sle"));
  BOOST_TEST(ids.count("transplant"));
  BOOST_TEST(ids.count("dialysis"));
  for (const auto& m : first)
    if (m.con->id == "sle") BOOST_TEST(m.display == "systemic lupus (history)");  // the text comes first
  for (int i = 0; i < 3; ++i) BOOST_TEST(describe(t->match(cc)) == describe(first));
  // Another text, then the first again: nothing carried over between them.
  BOOST_TEST(t->match(fhir::CodeableConcept{{}, "Haemodialysis"}).size() == 1u);
  BOOST_TEST(describe(t->match(cc)) == describe(first));
}

// Matches are remembered per thread by the concept's strings. Concepts whose strings run together the same
// way ("M32." + "1" and "M32" + ".1"), that differ only in a display, or in the order of their codings, are
// still told apart; the means_any() answer agrees with match(); and a Terminology loaded again (at what may
// be the same address) does not answer from the first one's memory.
BOOST_AUTO_TEST_CASE(remembered_matches_tell_similar_concepts_apart) {
  const std::string icd = "http://hl7.org/fhir/sid/icd-10-cm";
  auto ids = [](const std::vector<Match>& ms) {
    std::string out;
    for (const auto& m : ms) out += (m.con ? m.con->id : "?") + "|" + m.code + "|" + m.display + ";";
    return out;
  };
  for (int round = 0; round < 2; ++round) {
    auto t = test::terms();  // a new Terminology each round
    for (int again = 0; again < 2; ++again) {
      BOOST_TEST(ids(t->match(fhir::CodeableConcept{{{icd, "M32.14", ""}}, ""})) == "sle|M32.14|;");
      BOOST_TEST(t->match(fhir::CodeableConcept{{{icd + "M32", ".14", ""}}, ""}).empty());
      BOOST_TEST(t->match(fhir::CodeableConcept{{{icd, "M32.1", "4"}}, ""}).size() <= 1u);
      BOOST_TEST(t->match(fhir::CodeableConcept{{{"http://example.org/local", "X", ""}}, ""}).empty());
      BOOST_TEST(ids(t->match(fhir::CodeableConcept{{{"http://example.org/local", "X", "systemic lupus"}},
                                                    ""})) == "sle||systemic lupus;");
      BOOST_TEST(t->match(fhir::CodeableConcept{{}, "systemic lupus"}).size() == 1u);
      BOOST_TEST(
          t->match(fhir::CodeableConcept{{{"http://example.org/local", "X", ""}}, "systemic lupus"}).size() ==
          1u);
      const fhir::CodeableConcept two{{{icd, "M32.14", ""}, {"http://loinc.org", "2160-0", ""}}, ""};
      const fhir::CodeableConcept swapped{{{"http://loinc.org", "2160-0", ""}, {icd, "M32.14", ""}}, ""};
      BOOST_TEST(t->match(two).size() == 2u);
      BOOST_TEST(t->match(two).front().con->id == "sle");
      BOOST_TEST(t->match(swapped).front().con->id == "creatinine");
      BOOST_TEST(t->means_any(two, fhir::ResourceType::condition));
      BOOST_TEST(t->means_any(two, fhir::ResourceType::observation));
      BOOST_TEST(
          !t->means_any(fhir::CodeableConcept{{{icd, "M32.14", ""}}, ""}, fhir::ResourceType::observation));
      BOOST_TEST(
          !t->means_any(fhir::CodeableConcept{{{icd, "Z99.9", ""}}, ""}, fhir::ResourceType::condition));
    }
  }
}

struct TitreCase {
  const char* text;
  const char* denominator;
  const char* comparator;
};
std::ostream& operator<<(std::ostream& o, const TitreCase& c) {
  return o << c.text;
}

BOOST_DATA_TEST_CASE(titres_parse,
                     boost::unit_test::data::make(std::vector<TitreCase>{
                         {"1:160", "160", ""},
                         {"1/320", "320", ""},
                         {"80", "80", ""},
                         {">1:1280", "1280", ">"},
                         {"\xE2\x89\xA5"
                          "1:160",
                          "160", ">="},
                         {"1:80 speckled", "80", ""},
                         {" <1:40 ", "40", "<"},
                         // full-width colon and slash, the
                         // ratio sign (Chinese lab systems)
                         {"1\xEF\xBC\x9A"
                          "320",
                          "320", ""},
                         {"1\xEF\xBC\x8F"
                          "160",
                          "160", ""},
                         {"1\xE2\x88\xB6"
                          "640",
                          "640", ""},
                         {"1:1,280", "1280", ""},
                         {"1 in 320", "320", ""},
                         {"1:320 \xE9\xA2\x97\xE7\xB2\x92\xE5\x9E\x8B", "320", ""}}),
                     c) {
  auto t = parse_titre(c.text);
  BOOST_REQUIRE(t);
  BOOST_TEST(t->denominator.to_string() == c.denominator);
  BOOST_TEST(t->comparator == c.comparator);
}

BOOST_AUTO_TEST_CASE(non_titres_are_refused) {
  // Each of the last ones once read as 1:1 (a negative titre): an unknown separator or grouping before more
  // digits.
  for (const char* s : {"", "positive", "2:160", "1:", "1:80:2", "1.5", "abc",
                        "1\xE2\x81\x84"
                        "320",
                        "1 to 320", "1:80, 1:160", "1:12,80"})
    BOOST_TEST(!parse_titre(s), s);
}

// A number is a titre only without a unit or with a titre's: 1.2 AI (an immunoassay index) is not 1:1.2.
BOOST_AUTO_TEST_CASE(numbers_in_other_units_are_not_titres) {
  auto quantity = [](const char* value, const char* code) {
    fhir::ObservationValue v;
    v.kind = fhir::ObservationValue::Kind::quantity;
    v.element = "valueQuantity";
    v.quantity.value = Decimal::parse(value);
    v.quantity.code = code;
    return v;
  };
  std::string basis;
  BOOST_TEST(!titre_of(quantity("1.2", "{index}"), basis));
  BOOST_TEST(!titre_of(quantity("45", "U/mL"), basis));
  auto t = titre_of(quantity("320", "{titer}"), basis);
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST(t->denominator.to_string() == "320");
  BOOST_TEST(titre_of(quantity("160", ""), basis).has_value());
}

BOOST_AUTO_TEST_CASE(comparators_widen_values) {
  using std::strong_ordering;
  // ">300" vs "> 6": every admitted value passes; vs "> 500": cannot tell.
  BOOST_TEST(to_string(test_with_comparator(strong_ordering::greater, ">", CompareOp::gt)) ==
             std::string("met"));
  BOOST_TEST(to_string(test_with_comparator(strong_ordering::less, ">", CompareOp::gt)) ==
             std::string("unknown"));
  BOOST_TEST(to_string(test_with_comparator(strong_ordering::less, "<", CompareOp::gt)) ==
             std::string("not_met"));
  BOOST_TEST(to_string(test_with_comparator(strong_ordering::equal, "<", CompareOp::ge)) ==
             std::string("not_met"));
  BOOST_TEST(to_string(test_with_comparator(strong_ordering::equal, "<=", CompareOp::ge)) ==
             std::string("unknown"));
  BOOST_TEST(to_string(test_with_comparator(strong_ordering::equal, "", CompareOp::ge)) ==
             std::string("met"));
}

BOOST_AUTO_TEST_CASE(units_convert_exactly) {
  auto t = test::terms();
  const Analyte& creat = *t->analyte("creatinine");
  Conversion mgdl = creat.units.at("mg/dL");
  auto value = [&](const char* v, const char* unit) {
    fhir::Quantity q;
    q.value = Decimal::parse(v);
    q.unit = unit;
    std::string why;
    auto n = normalise(*t, creat, q, why);
    BOOST_REQUIRE_MESSAGE(n, why);
    return *n;
  };
  auto n221 = value("221", "µmol/L");
  BOOST_TEST(
      (compare_converted(n221.value, n221.conversion, *Decimal::parse("2.5"), mgdl) < 0));  // 221 < 221.05
  auto n222 = value("222", "umol/l");
  BOOST_TEST((compare_converted(n222.value, n222.conversion, *Decimal::parse("2.5"), mgdl) > 0));
  BOOST_TEST(n221.describe() == "221 umol/L / 88.42 = 2.4994 mg/dL");
  fhir::Quantity bad;
  bad.value = Decimal::parse("2");
  bad.unit = "mg%";
  std::string why;
  BOOST_TEST(!normalise(*t, creat, bad, why));
  BOOST_TEST(why.find("cannot be converted") != std::string::npos);
  const Analyte& iga = *t->analyte("immunoglobulin");
  fhir::Quantity g;
  g.value = Decimal::parse("0.09");
  g.unit = "g/L";
  auto n = normalise(*t, iga, g, why);
  BOOST_REQUIRE(n);
  BOOST_TEST((compare_converted(n->value, n->conversion, *Decimal::parse("10"), iga.units.at("mg/dL")) < 0));
  // "G/L" is giga per litre for a cell count and gram per litre for a concentration: read per analyte.
  g.unit = "G/L";
  n = normalise(*t, iga, g, why);
  BOOST_REQUIRE_MESSAGE(n, why);
  BOOST_TEST(n->describe() == "0.09 G/L x 100 = 9 mg/dL");
  const Analyte& cells = *t->analyte("cell_count");
  fhir::Quantity wbc;
  wbc.value = Decimal::parse("2.4");
  wbc.unit = "G/L";
  n = normalise(*t, cells, wbc, why);
  BOOST_REQUIRE_MESSAGE(n, why);
  BOOST_TEST(
      (compare_converted(n->value, n->conversion, *Decimal::parse("2.5"), cells.units.at("10*9/L")) < 0));
  BOOST_TEST(
      (compare_converted(n->value, n->conversion, *Decimal::parse("2.4"), cells.units.at("10*9/L")) == 0));
  wbc.unit = "/nL";  // per nanolitre (German labs, the MII corpus) = 10*9/L
  n = normalise(*t, cells, wbc, why);
  BOOST_REQUIRE_MESSAGE(n, why);
  BOOST_TEST(
      (compare_converted(n->value, n->conversion, *Decimal::parse("2.4"), cells.units.at("10*9/L")) == 0));
}

namespace {

Reading string_result(const std::string& text) {
  auto t = test::terms();
  fhir::Observation o;
  o.value.kind = fhir::ObservationValue::Kind::string;
  o.value.text = text;
  std::string basis;
  return positivity(*t, *t->analyte("qualitative"), o, basis);
}

}  // namespace

// Results written in words are read by whole words; a negation turns "detected" round, and words pointing
// both ways are left undetermined (the criterion is then unknown, never decided on a guess).
BOOST_DATA_TEST_CASE(words_for_negative_results,
                     bdata::make({"Negative", "NEG", "Not detected", "None detected", "Undetected",
                                  "Not reactive", "Non reactive", "Non-reactive", "Nonreactive", "Unreactive",
                                  "Not present", "Absent", "No antibodies detected", "阴性"}),
                     text) {
  BOOST_TEST((string_result(text) == Reading::negative), text);
}

BOOST_DATA_TEST_CASE(words_for_positive_results,
                     bdata::make({"Positive", "POS", "Detected", "Reactive", "Present", "Weakly positive",
                                  "阳性", "弱阳性"}),
                     text) {
  BOOST_TEST((string_result(text) == Reading::positive), text);
}

BOOST_DATA_TEST_CASE(words_that_decide_nothing,
                     bdata::make({"", "Indeterminate", "Equivocal", "Not possible to determine",
                                  "Specimen position error", "HBsAg not detected, anti-HBs positive",
                                  "not negative", "Positive/negative"}),
                     text) {
  BOOST_TEST((string_result(text) == Reading::undetermined), text);
}

// A reference range in a unit the value cannot be compared with decides nothing: not "normal".
namespace {
// A UCUM quantity: `unit` as shown, `code` the UCUM code.
fhir::Quantity ucum(const char* v, const char* unit, const char* code) {
  return fhir::Quantity{Decimal::parse(v), v, "", unit, "http://unitsofmeasure.org", code};
}
fhir::Quantity g_per_l(const char* v) {
  return ucum(v, "g/L", "g/L");
}
}  // namespace

// Ranges per sex (appliesTo, not read here) decide only when they agree: C3 0.85 g/L is low against a male
// 0.9-1.8 listed first and normal against a female 0.8-1.7; the analyte's default range (0.9) decides, and
// says why. A range with a high bound only cannot say a value is not low: 0.62 g/L is low by the default
// range.
BOOST_AUTO_TEST_CASE(ranges_decide_only_when_they_agree_and_bound_both_sides) {
  auto t = test::terms();
  fhir::Observation o;
  o.value.kind = fhir::ObservationValue::Kind::quantity;
  o.value.quantity = g_per_l("0.85");
  fhir::ReferenceRange male, female;
  male.low = g_per_l("0.9");
  male.high = g_per_l("1.8");
  female.low = g_per_l("0.8");
  female.high = g_per_l("1.7");
  o.reference_ranges = {male, female};
  std::string basis;
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::low), basis);
  BOOST_TEST(basis.find("default range") != std::string::npos, basis);
  BOOST_TEST(basis.find("disagree") != std::string::npos, basis);
  o.reference_ranges = {female};
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::normal), basis);
  o.reference_ranges = {male};
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::low), basis);

  fhir::ReferenceRange high_only;
  high_only.high = g_per_l("1.8");
  o.value.quantity = g_per_l("0.62");
  o.reference_ranges = {high_only};
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::low), basis);
  BOOST_TEST(basis.find("default range") != std::string::npos, basis);
}

// An interpretation saying the lab could not tell (IND, E) is not overruled by the reference range.
BOOST_AUTO_TEST_CASE(an_indeterminate_interpretation_is_not_overruled_by_the_range) {
  auto t = test::terms();
  fhir::Observation o;
  o.value.kind = fhir::ObservationValue::Kind::quantity;
  o.value.quantity = ucum("28", "IU/mL", "[IU]/mL");
  fhir::ReferenceRange rr;
  rr.high = ucum("30", "IU/mL", "[IU]/mL");
  o.reference_ranges = {rr};
  std::string basis;
  BOOST_TEST((positivity(*t, *t->analyte("autoantibody"), o, basis) == Reading::negative), basis);
  for (const char* code : {"IND", "E"}) {
    o.interpretation = {
        fhir::Coding{"http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", code, ""}};
    BOOST_TEST((positivity(*t, *t->analyte("autoantibody"), o, basis) == Reading::undetermined), code);
  }
}

BOOST_AUTO_TEST_CASE(a_range_in_another_unit_is_not_read_as_normal) {
  auto t = test::terms();
  fhir::Observation o;
  o.value.kind = fhir::ObservationValue::Kind::quantity;
  o.value.quantity = g_per_l("0.5");
  fhir::ReferenceRange rr;
  rr.low = ucum("90", "mg/dL", "mg/dL");
  rr.high = ucum("180", "mg/dL", "mg/dL");
  o.reference_ranges.push_back(rr);
  std::string basis;
  const Level l = level(*t, *t->analyte("c3"), o, basis);
  BOOST_TEST((l != Level::normal), basis);
  BOOST_TEST((l == Level::low), basis);  // 50 mg/dL, below the analyte's default range
}

// Review 2026-11-29: C3 "<1.0 g/L" (100 mg/dL) without a range may be below the default low limit (90) or
// not: undetermined, where it read "within the default range". "<0.8 g/L" is low whatever it is.
BOOST_AUTO_TEST_CASE(a_comparator_across_the_default_range_decides_nothing) {
  auto t = test::terms();
  fhir::Observation o;
  o.value.kind = fhir::ObservationValue::Kind::quantity;
  o.value.quantity = g_per_l("1.0");
  o.value.quantity.comparator = "<";
  std::string basis;
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::undetermined), basis);
  o.value.quantity = g_per_l("0.8");
  o.value.quantity.comparator = "<";
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::low), basis);
  o.value.quantity = g_per_l("1.2");
  o.value.quantity.comparator = ">";
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::undetermined), basis);  // may be > 180
  o.value.quantity = g_per_l("1.2");
  o.value.quantity.comparator = "";
  BOOST_TEST((level(*t, *t->analyte("c3"), o, basis) == Level::normal), basis);
}
