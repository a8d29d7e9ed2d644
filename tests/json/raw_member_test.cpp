// json::raw_top_level_member finds a member of the top-level object on raw bytes: only a real top-level key,
// and never when the text leaves doubt (a repeated key, an escaped key, an object that does not close).
#include <boost/test/unit_test.hpp>

#include "json/json.hpp"
#include "json/raw_member.hpp"

using namespace cf;
using json::RawMember;

namespace {
RawMember find(std::string_view text, std::string_view& value) {
  return json::raw_top_level_member(text, "m", value);
}
std::string value_of(std::string_view text) {
  std::string_view v;
  return find(text, v) == RawMember::once ? std::string(v) : std::string("<none>");
}
}  // namespace

BOOST_AUTO_TEST_CASE(finds_the_top_level_value_whatever_it_is) {
  BOOST_TEST(value_of(R"({"a":1,"m":{"coding":[{"code":"x"}]},"z":2})") == R"({"coding":[{"code":"x"}]})");
  BOOST_TEST(value_of(R"({"m" : "text" })") == R"("text")");
  BOOST_TEST(value_of(" {\n\"a\": [1, {\"m\": 0}],\t\"m\": [ 1 , 2 ] \n} ") == "[ 1 , 2 ]");
  BOOST_TEST(value_of(R"({"m":12.5})") == "12.5");
  // Its bytes are what the parser would read: quotes and braces inside strings do not end it.
  BOOST_TEST(value_of(R"({"m":{"text":"a \"}\" b, {"},"n":1})") == R"({"text":"a \"}\" b, {"})");
  BOOST_TEST(value_of(R"({"m":{"text":"ends in a backslash \\"},"n":1})") ==
             R"({"text":"ends in a backslash \\"})");
}

BOOST_AUTO_TEST_CASE(keys_that_are_not_top_level_keys_are_not_found) {
  std::string_view v;
  BOOST_TEST((find(R"({"a":{"m":1},"b":[{"m":2}]})", v) == RawMember::absent));
  BOOST_TEST((find(R"({"a":"\"m\":{}","b":"m"})", v) == RawMember::absent));  // inside strings
  BOOST_TEST((find(R"({"contained":[{"resourceType":"X","m":{}}]})", v) == RawMember::absent));
  BOOST_TEST((find(R"({"a":"m","mm":1,"":2})", v) == RawMember::absent));  // a value, longer and empty keys
}

BOOST_AUTO_TEST_CASE(doubt_is_reported_as_ambiguous) {
  std::string_view v;
  BOOST_TEST((find(R"({"m":1,"m":2})", v) == RawMember::ambiguous));    // the parser rejects the line
  BOOST_TEST((find(R"({"\u006d":1})", v) == RawMember::ambiguous));     // an escape may spell the key
  BOOST_TEST((find(R"({"m":{"a":1})", v) == RawMember::ambiguous));     // cut short
  BOOST_TEST((find(R"({"m":1}} )", v) == RawMember::ambiguous));        // too many closings
  BOOST_TEST((find(R"({"m":1} {"m":2})", v) == RawMember::ambiguous));  // trailing text
  BOOST_TEST((find(R"({"m":"unterminated})", v) == RawMember::ambiguous));
  BOOST_TEST((find(R"([{"m":1}])", v) == RawMember::ambiguous));  // not an object
  BOOST_TEST((find("", v) == RawMember::ambiguous));
  BOOST_TEST((find(R"({"m"1})", v) == RawMember::ambiguous));  // no colon
}

BOOST_AUTO_TEST_CASE(agrees_with_the_parser_on_what_it_finds) {
  for (const std::string text :
       {R"({"a":[1,{"b":"}"}],"m":{"x":[{"y":"\\"}]},"c":null})", R"({"m":[],"z":{}})", R"({"m":"a\"b"})"}) {
    std::string_view v;
    BOOST_TEST_REQUIRE((find(text, v) == RawMember::once));
    json::Document whole, part;
    json::ParseError err;
    BOOST_TEST_REQUIRE(json::parse(text, whole, err));
    BOOST_TEST_REQUIRE(json::parse(v, part, err));
    BOOST_TEST(json::serialize(*json::member(whole, "m")) == json::serialize(part));
  }
}
