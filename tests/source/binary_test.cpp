// Every resource of the demo data, the corpus slice and (where present) the shared corpus comes back from
// fhir/binary.hpp's form equal to what extraction gave (all fields, operator== of the model), so spilled
// resources are evaluated exactly as kept ones.
#include <boost/test/unit_test.hpp>

#include "fhir/binary.hpp"
#include "source/file_source.hpp"
#include "support/scenario.hpp"

using namespace cf;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_CASE(every_extracted_resource_round_trips) {
  std::size_t n = 0, with_components = 0, with_dosages = 0, with_ranges = 0;
  for (const fs::path& root : {test::repo() / "fhir-samples", test::repo() / "tests/data/corpus-slice",
                               fs::path(COHORT_SHARED_DIR) / "fhir-corpus"}) {
    std::error_code ec;
    if (!fs::exists(root, ec)) continue;
    source::FileSource src(root);
    IssueLog issues;
    auto st = src.read(
        [&](source::Page&& page) {
          for (auto& r : page.resources) {
            fhir::header(r).raw.clear();  // not part of the binary form
            std::string bytes;
            fhir::encode(r, bytes);
            std::string_view in(bytes);
            auto back = fhir::decode(in);
            BOOST_TEST_REQUIRE(back.has_value());
            BOOST_TEST(in.empty());
            BOOST_TEST((*back == r), "differs after a round trip: " << fhir::header(r).key());
            if (auto* o = std::get_if<fhir::Observation>(&r)) {
              with_components += !o->components.empty();
              with_ranges += !o->reference_ranges.empty();
            }
            if (auto* m = std::get_if<fhir::MedicationUse>(&r)) with_dosages += !m->dosages.empty();
            ++n;
          }
        },
        issues);
    BOOST_TEST(st.ok());
  }
  BOOST_TEST(n > 1000u);
  BOOST_TEST(with_components > 0u);  // the corpus exercises the nested parts too
  BOOST_TEST(with_dosages > 0u);
  BOOST_TEST(with_ranges > 0u);
}

BOOST_AUTO_TEST_CASE(damaged_bytes_are_refused_not_misread) {
  fhir::Observation o;
  o.h.type = fhir::ResourceType::observation;
  o.h.id = "o1";
  o.code.codings.push_back({"http://loinc.org", "2160-0", "Creatinine"});
  o.value.kind = fhir::ObservationValue::Kind::quantity;
  o.value.quantity.value = Decimal::parse("1.20");
  std::string bytes;
  fhir::encode(fhir::Resource(o), bytes);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    std::string_view in(bytes.data(), cut);
    BOOST_TEST(!fhir::decode(in).has_value());  // every truncation is noticed
  }
  std::string bad = bytes;
  bad[0] = '\x7f';  // no such resource type
  std::string_view in(bad);
  BOOST_TEST(!fhir::decode(in).has_value());
}

BOOST_AUTO_TEST_CASE(numbers_of_either_sign_and_any_size_round_trip) {
  // Sizes, enums, days and decimals are variable-length (zigzag for signed ones): the extremes come back.
  for (const char* v : {"0", "-0.5", "1.20", "-273.15", "999999999999999999999999999999999999",
                        "-999999999999999999999999999999999999", "0.000000000000000000000000000000000001"}) {
    fhir::Patient p;
    p.h.type = fhir::ResourceType::patient;
    p.h.id = std::string(300, 'x');  // a size past one byte
    p.birth_date =
        PartialDate{-25000, 2147483647, DatePrecision::day, false};  // before 1970; the largest day
    fhir::Observation o;
    o.value.quantity.value = Decimal::parse(v);
    BOOST_TEST_REQUIRE(o.value.quantity.value.has_value(), v);
    for (const fhir::Resource& r : {fhir::Resource(p), fhir::Resource(o)}) {
      std::string bytes;
      fhir::encode(r, bytes);
      std::string_view in(bytes);
      auto back = fhir::decode(in);
      BOOST_TEST_REQUIRE(back.has_value(), v);
      BOOST_TEST((*back == r), v);
    }
  }
}

BOOST_AUTO_TEST_CASE(an_overlong_number_is_refused) {
  // A resource type index whose varint never ends within 32 bits.
  const std::string bytes = "\xff\xff\xff\xff\xff\xff\x01";
  std::string_view in(bytes);
  BOOST_TEST(!fhir::decode(in).has_value());
}
