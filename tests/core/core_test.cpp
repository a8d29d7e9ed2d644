#define BOOST_TEST_MODULE core
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "core/date.hpp"
#include "core/decimal.hpp"
#include "core/files.hpp"
#include "core/sha256.hpp"
#include "core/task_pool.hpp"
#include "core/temp_file.hpp"
#include "core/text.hpp"

using namespace cf;

BOOST_AUTO_TEST_CASE(decimals_compare_exactly) {
  auto d = [](const char* s) { return *Decimal::parse(s); };
  BOOST_TEST((d("2.50") == d("2.5")));
  BOOST_TEST((d("6.4999999999999999") < d("6.5")));
  BOOST_TEST((d("221") < d("221.05")));
  BOOST_TEST((d("1e2") == d("100")));
  BOOST_TEST((d("-0.5") < d("0")));
  BOOST_TEST(d("2.50").to_string() == "2.50");
  BOOST_TEST(d("1.5e-3").to_string() == "0.0015");
  BOOST_TEST((d("2.5").times(d("88.42"))->to_string() == "221.050"));
}

BOOST_DATA_TEST_CASE(decimals_reject_garbage,
                     boost::unit_test::data::make({"", "-", "1.", ".5", "1e", "NaN", "Infinity", "1e401",
                                                   "0x10", "1 ", "+1", "1.2.3"}),
                     text) {
  BOOST_TEST(!Decimal::parse(text).has_value());
}

BOOST_AUTO_TEST_CASE(fhir_dates_and_precision) {
  auto y = parse_fhir_date("2024", DateKind::date);
  BOOST_REQUIRE(y);
  BOOST_TEST(format_day(y->first) == "2024-01-01");
  BOOST_TEST(format_day(y->last) == "2024-12-31");
  auto m = parse_fhir_date("2024-02", DateKind::date_time);
  BOOST_TEST(format_day(m->last) == "2024-02-29");
  BOOST_TEST(parse_fhir_date("2025-03-01T23:30:00+08:00", DateKind::date_time).has_value());
  BOOST_TEST(format_day(parse_fhir_date("2025-03-01T23:30:00+08:00", DateKind::date_time)->first) ==
             "2025-03-01");
  std::string why;
  BOOST_TEST(!parse_fhir_date("2023-02-30", DateKind::date, &why).has_value());
  BOOST_TEST(why == "impossible calendar date");
  BOOST_TEST(!parse_fhir_date("2025-03-01T10:00:00", DateKind::instant).has_value());  // no zone
  BOOST_TEST(!parse_fhir_date("2025-03-01", DateKind::instant).has_value());
  BOOST_TEST(!parse_fhir_date("2025-3-1", DateKind::date).has_value());
  BOOST_TEST(!parse_fhir_date("2025-03-01T25:00:00Z", DateKind::date_time).has_value());
}

BOOST_AUTO_TEST_CASE(age_in_completed_years) {
  Days asof = *parse_iso_day("2026-11-26");
  BOOST_TEST(completed_years(*parse_iso_day("2008-11-26"), asof) == 18);  // birthday today
  BOOST_TEST(completed_years(*parse_iso_day("2008-11-27"), asof) == 17);  // birthday tomorrow
  BOOST_TEST(completed_years(*parse_iso_day("2000-02-29"), *parse_iso_day("2026-02-28")) == 25);
  BOOST_TEST(format_day(add_months(*parse_iso_day("2026-03-31"), -1)) == "2026-02-28");
}

BOOST_AUTO_TEST_CASE(sha256_known_vectors) {
  BOOST_TEST(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // FIPS 180-4 two-block message, and a million 'a' (both paths).
  for (bool hw : {false, true}) {
    Sha256 two(hw);
    two.update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
    BOOST_TEST(two.hex_digest() == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    Sha256 million(hw);
    for (int i = 0; i < 1000; ++i) million.update(std::string(1000, 'a'));
    BOOST_TEST(million.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
}

// The CPU's SHA instructions (where it has them) and the portable code agree on every length and split.
BOOST_AUTO_TEST_CASE(sha256_hardware_and_portable_agree) {
  BOOST_TEST_MESSAGE("SHA instructions on this CPU: " << (Sha256::hardware_available() ? "yes" : "no"));
  std::string data;
  for (int i = 0; i < 5000; ++i) data += static_cast<char>((i * 131 + i / 7) & 0xff);
  for (std::size_t len : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 128u, 129u, 1000u, 4999u}) {
    for (std::size_t split : {std::size_t{0}, len / 3, len}) {
      Sha256 a(false), b(true);
      a.update(std::string_view(data).substr(0, split));
      a.update(std::string_view(data).substr(split, len - split));
      b.update(std::string_view(data).substr(0, len));
      BOOST_TEST(a.hex_digest() == b.hex_digest(), "length " << len << " split " << split);
    }
  }
}

BOOST_AUTO_TEST_CASE(trim_cuts_json_and_ascii_whitespace_at_both_ends_only) {
  BOOST_TEST(trim("") == "");
  BOOST_TEST(trim(" \t\r\n\f\v").empty());
  BOOST_TEST(trim("{}") == "{}");
  BOOST_TEST(trim("\t {\"a\": 1 } \r") == "{\"a\": 1 }");
  BOOST_TEST(trim(" a b ") == "a b");
  BOOST_TEST(trim(std::string_view("\0x\0", 3)) == std::string_view("\0x\0", 3));  // NUL is no whitespace
  BOOST_TEST(trim("\xC2\xA0x") == "\xC2\xA0x");                                    // nor is a no-break space
}

BOOST_AUTO_TEST_CASE(log_text_is_neutralised) {
  BOOST_TEST(sanitize_for_log("a\nb\x1b[31m", 100) == "a?b?[31m");
  BOOST_TEST(sanitize_for_log(std::string(500, 'x'), 10).size() == 13u);
}

// RELIABILITY S5: an output's temporary file is created afresh and never through a symlink. A link planted at
// "<name>.tmp" (pointing at a file the run must not touch) is replaced, not followed; a stale temporary file
// of a crashed run is replaced too; small and large pieces arrive whole.
BOOST_AUTO_TEST_CASE(atomic_outputs_never_write_through_a_planted_link) {
  char tmpl[] = "/tmp/cf-core-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  auto slurp = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  std::ofstream(dir / "victim") << "do not touch";
  std::filesystem::create_symlink(dir / "victim", dir / "out.csv.tmp");
  BOOST_TEST_REQUIRE(write_file_atomic(dir / "out.csv", "patient,tier\n").ok());
  BOOST_TEST(slurp(dir / "victim") == "do not touch");
  BOOST_TEST(slurp(dir / "out.csv") == "patient,tier\n");
  BOOST_TEST(!std::filesystem::exists(dir / "out.csv.tmp"));

  std::filesystem::create_symlink(dir / "victim", dir / "big.ndjson.tmp");
  std::ofstream(dir / "stale.ndjson.tmp") << "half a file from a crashed run";
  const std::string big(3u << 20, 'x');
  for (const char* name : {"big.ndjson", "stale.ndjson"}) {
    auto f = AtomicFile::create(dir / name);
    BOOST_TEST_REQUIRE(f.ok());
    BOOST_TEST_REQUIRE((*f)->write("{\"a\":1}\n").ok());
    BOOST_TEST_REQUIRE((*f)->write(big).ok());
    BOOST_TEST_REQUIRE((*f)->write("end\n").ok());
    BOOST_TEST_REQUIRE((*f)->commit().ok());
    BOOST_TEST((slurp(dir / name) == "{\"a\":1}\n" + big + "end\n"), name);
  }
  BOOST_TEST(slurp(dir / "victim") == "do not touch");
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(scratch_lines_read_back_and_leave_nothing) {
  char tmpl[] = "/tmp/cf-core-XXXXXX";
  const std::filesystem::path dir = ::mkdtemp(tmpl);
  {
    auto lines = TempLines::create(dir);
    BOOST_TEST_REQUIRE(lines.ok());
    std::vector<TempLines::Ref> refs;
    for (int i = 0; i < 3000; ++i) {
      auto r =
          (*lines)->append("line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x'));
      BOOST_TEST_REQUIRE(r.ok());
      refs.push_back(*r);
    }
    BOOST_TEST(std::filesystem::is_empty(dir));  // unlinked at once
    std::string out;
    for (int i : {2999, 0, 1500, 7}) {
      BOOST_TEST_REQUIRE((*lines)->read(refs[static_cast<std::size_t>(i)], out).ok());
      BOOST_TEST(out == "line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x'));
    }
    auto more = (*lines)->append("after a read");  // appending after reading still appends at the end
    BOOST_TEST_REQUIRE(more.ok());
    BOOST_TEST_REQUIRE((*lines)->read(*more, out).ok());
    BOOST_TEST(out == "after a read");
    // Lines written before the last append still read back.
    for (int i : {0, 2999}) {
      BOOST_TEST_REQUIRE((*lines)->read(refs[static_cast<std::size_t>(i)], out).ok());
      BOOST_TEST(out == "line " + std::to_string(i) + std::string(static_cast<std::size_t>(i % 97), 'x'));
    }
  }
  BOOST_TEST(!TempLines::create(dir / "missing").ok());  // a folder that is not there: an error, not a crash
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(task_pool_runs_everything_on_its_own_threads) {
  std::atomic<int> ran{0};
  std::vector<std::future<int>> results;
  std::future<void> failing;
  std::thread::id caller = std::this_thread::get_id(), worker;
  {
    TaskPool pool(2);
    for (int i = 0; i < 100; ++i)
      results.push_back(pool.submit([i, &ran] {
        ++ran;
        return i * i;
      }));
    // A move-only task (a chunk of input is handed over as a unique_ptr) and its result.
    auto owned = std::make_unique<int>(7);
    auto moved = pool.submit([p = std::move(owned)]() mutable { return std::move(p); });
    BOOST_TEST(*moved.get() == 7);
    failing = pool.submit([]() -> void { throw std::runtime_error("task failed"); });
    worker = pool.submit([] { return std::this_thread::get_id(); }).get();
    // Queued and not yet waited for: the destructor still runs them.
    for (int i = 0; i < 50; ++i) pool.submit([&ran] { ++ran; });
  }
  BOOST_TEST(ran.load() == 150);
  for (int i = 0; i < 100; ++i) BOOST_TEST(results[static_cast<std::size_t>(i)].get() == i * i);
  BOOST_CHECK_THROW(failing.get(), std::runtime_error);
  BOOST_TEST((worker != caller));
}

// Converted values are shown exactly (no binary floating point), rounded half to even to the digits asked, so
// that the text is the same on every machine (x87, SSE, AArch64 long doubles all differ in the last digit).
BOOST_AUTO_TEST_CASE(decimal_quotients_are_exact_text) {
  auto d = [](const char* s) { return *Decimal::parse(s); };
  struct Case {
    const char *dividend, *divisor;
    int digits;
    const char* text;
  };
  const Case cases[] = {
      {"940", "1000", 4, "0.94"},
      {"1", "3", 4, "0.3333"},
      {"2", "3", 4, "0.6667"},
      {"-2", "3", 4, "-0.6667"},
      {"2", "-3", 4, "-0.6667"},
      {"106.08", "1", 4, "106.08"},
      {"1.2", "0.0113", 4, "106.1947"},  // creatinine mg/dL to umol/L by division
      {"300", "1", 4, "300"},
      {"3E+2", "1", 0, "300"},
      // Ties go to the even digit, both ways.
      {"0.00005", "1", 4, "0"},
      {"0.00015", "1", 4, "0.0002"},
      {"0.00025", "1", 4, "0.0002"},
      {"-0.00025", "1", 4, "-0.0002"},
      {"2.5", "1", 0, "2"},
      {"3.5", "1", 0, "4"},
      {"-0.00001", "1", 4, "0"},  // never "-0"
      {"12.30", "1", 2, "12.3"},
  };
  for (const auto& c : cases)
    BOOST_TEST(d(c.dividend).divided_text(d(c.divisor), c.digits).value_or("?") == c.text,
               c.dividend << " / " << c.divisor << " to " << c.digits);
  // The rounded quotient itself keeps the digits asked for.
  BOOST_TEST(d("940").divided(d("1000"), 4)->to_string() == "0.9400");
  // rounded_text() is the quotient by 1: doses are shown this way (criteria/medication.hpp).
  for (const auto& [value, text] : {std::pair{"2.675", "2.68"},
                                    {"2.665", "2.66"},
                                    {"20.000000000000", "20"},
                                    {"6.666666666667", "6.67"},
                                    {"-0.001", "0"}})
    BOOST_TEST(d(value).rounded_text(2) == text, value);
  // Zero divisor and digits beyond 38 are refused, not guessed.
  BOOST_TEST(!d("1").divided_text(d("0"), 4).has_value());
  BOOST_TEST(!d("123456789012345678901234567890").divided_text(d("0.000000001"), 4).has_value());
}

BOOST_AUTO_TEST_CASE(instants_order_as_points_in_time) {
  auto k = [](const char* t) { return parse_instant_key(t); };
  BOOST_TEST_REQUIRE(k("2026-01-01T12:00:00Z").has_value());
  // String order says otherwise in each pair.
  BOOST_TEST((*k("2026-01-01T12:00:00Z") > *k("2026-01-01T12:00:00.250+02:00")));
  BOOST_TEST((*k("2026-01-01T12:00:00.250Z") > *k("2026-01-01T12:00:00Z")));
  BOOST_TEST((*k("2026-01-01T23:30:00-05:00") > *k("2026-01-02T03:00:00Z")));
  BOOST_TEST((*k("2026-01-01T12:00:00.1Z") == *k("2026-01-01T12:00:00.100000000Z")));
  BOOST_TEST((*k("2026-01-01T12:00:00+00:00") == *k("2026-01-01T12:00:00Z")));
  BOOST_TEST(k("1969-12-31T23:59:59Z")->seconds == -1);
  for (const char* bad : {"2026-01-01", "2026-01-01T12:00", "2026-01-01T12:00:00", "yesterday", ""})
    BOOST_TEST(!k(bad).has_value(), bad);
}
