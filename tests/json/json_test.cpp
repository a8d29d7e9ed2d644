#define BOOST_TEST_MODULE json
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <cstring>

#include "json/json.hpp"

using namespace cf;

namespace {
bool parses(const std::string& text, std::string* why = nullptr) {
  json::Document d;
  json::ParseError e;
  bool ok = json::parse(text, d, e);
  if (why) *why = e.message;
  return ok;
}
}  // namespace

BOOST_AUTO_TEST_CASE(numbers_stay_exact) {
  json::Document d;
  json::ParseError e;
  BOOST_REQUIRE(json::parse(R"({"v": 2.50, "s": "2.50"})", d, e));
  BOOST_TEST(*json::number_text(json::member(d, "v")) == "2.50");
  BOOST_TEST(!json::number_text(json::member(d, "s")).has_value());  // a string is not a number
  BOOST_TEST(!json::string(json::member(d, "v")).has_value());       // and a number is not a string
  BOOST_TEST(json::serialize(d) == R"({"v":2.50,"s":"2.50"})");
}

BOOST_AUTO_TEST_CASE(hostile_inputs_are_rejected_cleanly) {
  std::string why;
  BOOST_TEST(!parses(std::string(1000000, '['), &why));
  BOOST_TEST(why.find("nested deeper") != std::string::npos);
  std::string objs;
  for (int i = 0; i < 500000; ++i) objs += "{\"a\":";
  BOOST_TEST(!parses(objs));
  BOOST_TEST(!parses(R"({"status":"final","status":"entered-in-error"})", &why));
  BOOST_TEST(why.find("duplicate") != std::string::npos);
  BOOST_TEST(!parses(R"({"v": NaN})"));
  BOOST_TEST(!parses(R"({"v": Infinity})"));
  BOOST_TEST(!parses("{\"s\": \"\xff\xfe\"}"));           // invalid UTF-8
  BOOST_TEST(!parses(std::string("{\"a\":1}\0{}", 10)));  // NUL
  BOOST_TEST(!parses(R"({"a":1} trailing)"));
  BOOST_TEST(!parses(R"({"s":"\ud800"})"));            // lone surrogate
  BOOST_TEST(!parses("\xEF\xBB\xBF{\"a\":1}", &why));  // RFC 8259: no byte-order mark
  BOOST_TEST(why.find("byte-order mark") != std::string::npos);
}

// parse() checks UTF-8 itself (RFC 3629), before the reader: every ill-formed kind is refused, at its byte,
// on either side of the 8-byte ASCII steps, and every well-formed length is kept as written.
BOOST_AUTO_TEST_CASE(utf8_is_checked_before_parsing) {
  for (const char* good : {"\xC3\xA9", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80", "\xEF\xBF\xBD", "\xF4\x8F\xBF\xBF",
                           "\xED\x9F\xBF", "\xC2\x80"}) {
    for (std::size_t pad = 0; pad < 41; ++pad) {  // across the 8- and 32-byte steps of the check
      const std::string s = std::string(pad, 'a') + good;
      json::Document d;
      json::ParseError e;
      BOOST_TEST_REQUIRE(json::parse("{\"s\":\"" + s + "\"}", d, e), e.message);
      BOOST_TEST(*json::string(json::member(d, "s")) == s);
    }
  }
  for (const char* bad :
       {"\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xE0\x9F\xBF", "\xED\xA0\x80", "\xF0\x80\x80\x80",
        "\xF4\x90\x80\x80", "\xF5\x80\x80\x80", "\xFF", "\x80", "\xE2\x82", "\xE2\x28\xA1", "\xF0\x9F\x98"}) {
    for (std::size_t pad = 0; pad < 41; ++pad) {
      const std::string text = "{\"s\":\"" + std::string(pad, 'a') + bad + "\"}";
      json::Document d;
      json::ParseError e;
      BOOST_TEST(!json::parse(text, d, e), "accepted " << text);
      BOOST_TEST(e.message == "invalid UTF-8 byte sequence");
      BOOST_TEST(e.column == 7 + pad);  // the first byte of the bad sequence, 1-based
    }
  }
  std::string why;
  BOOST_TEST(!parses("{\"s\":\"ok\"}\xE2\x82", &why));  // truncated at the very end, outside a string
}

BOOST_AUTO_TEST_CASE(bundle_entries_stream_one_by_one) {
  std::FILE* f = std::tmpfile();
  const char* text =
      R"({"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","id":"a"}},)"
      R"(7,{"resource":{"resourceType":"Patient","id":"b","x":{"dup":1,"dup":2}}},)"
      R"({"resource":{"resourceType":"Patient","id":"c"}}],"total":3})";
  std::fputs(text, f);
  std::rewind(f);
  json::Document root;
  json::ParseError err;
  std::vector<std::string> ids, skipped;
  json::StreamCallbacks cb;
  cb.on_entry = [&](std::size_t, json::Document& e) {
    ids.emplace_back(*json::string(json::member(json::member(e, "resource"), "id")));
  };
  cb.on_skipped = [&](std::size_t i, const std::string& why) {
    skipped.push_back(std::to_string(i) + " " + why);
  };
  BOOST_REQUIRE(json::stream_object_file(f, root, cb, err));
  std::fclose(f);
  BOOST_TEST(ids == (std::vector<std::string>{"a", "c"}));
  BOOST_TEST(skipped.size() == 2u);
  BOOST_TEST(*json::string(json::member(root, "type")) == "collection");
  BOOST_TEST(*json::number_text(json::member(root, "total")) == "3");
  BOOST_TEST(json::member(root, "entry") == nullptr);
}

BOOST_AUTO_TEST_CASE(truncated_bundle_reports_line) {
  std::FILE* f = std::tmpfile();
  std::fputs(
      "{\"resourceType\":\"Bundle\",\n\"entry\":[{\"resource\":{\"resourceType\":\"Patient\",\"id\":\"a\"}},"
      "\n{\"res",
      f);
  std::rewind(f);
  json::Document root;
  json::ParseError err;
  int entries = 0;
  json::StreamCallbacks cb;
  cb.on_entry = [&](std::size_t, json::Document&) { ++entries; };
  BOOST_TEST(!json::stream_object_file(f, root, cb, err));
  std::fclose(f);
  BOOST_TEST(entries == 1);
  BOOST_TEST(err.line == 3u);
}

BOOST_AUTO_TEST_CASE(writer_raw_value_takes_its_place_among_members_and_elements) {
  json::Writer w;
  w.begin_object().key("a").raw_value(R"([1,{"b":"c"}])").key("d").str("e");
  w.key("f").begin_array().raw_value("{}").raw_value(R"({"g":true})").str("h").end_array().end_object();
  BOOST_TEST(w.view() == R"({"a":[1,{"b":"c"}],"d":"e","f":[{},{"g":true},"h"]})");
  w.clear();
  w.raw_value("[]");  // a whole text
  BOOST_TEST(w.view() == "[]");
}

// A control character is refused wherever it stands (RFC 8259: escaped in strings, only tab, line feed and
// carriage return as whitespace). RapidJSON's 16-byte scan let U+001A-U+001F through at some offsets and
// dropped them from the value: "metformin 50\x1e0 MG" was read as "metformin 500 MG".
BOOST_AUTO_TEST_CASE(control_characters_are_refused_at_every_offset) {
  for (int c = 1; c < 0x20; ++c) {
    for (int pad = 0; pad < 40; ++pad) {
      const std::string text = "{\"b\":\"" + std::string(static_cast<std::size_t>(pad), 'x') +
                               "\",\"a\":\"metformin 50" + std::string(1, static_cast<char>(c)) +
                               "0 MG, twice daily with meals\"}";
      std::string why;
      BOOST_TEST(!parses(text, &why), "U+" << std::hex << c << " at pad " << std::dec << pad);
      json::Document d;
      json::ParseError e;
      BOOST_TEST(!json::parse_line(text, d, e));
    }
  }
  std::string why;
  BOOST_TEST(!parses("{\"a\":\"x\x1fy\"}", &why));
  BOOST_TEST(why == "control character in the JSON text (it must be escaped)");
  BOOST_TEST(parses("{\t\"a\" :\r\n [1,\n2]\n}"));  // as whitespace they are allowed
  BOOST_TEST(parses(R"({"a":"tab\there, escaped \u001e too"})"));
}

// parse() and parse_line() find a string's end 16 bytes at a time from its first byte (json.cpp's
// ParseString): every length, an escape at every offset, and a raw tab or an unterminated string at every
// offset, as keys and as values, read as written or refused.
BOOST_AUTO_TEST_CASE(strings_are_read_whole_at_every_length_and_escape_offset) {
  const std::pair<std::string, std::string> escapes[] = {
      {"\\\"", "\""}, {"\\\\", "\\"}, {"\\n", "\n"}, {"\\u00e9", "\xC3\xA9"}, {"\\/", "/"}};
  for (std::size_t pad = 0; pad < 3; ++pad) {  // shifts every string against the buffer's alignment
    for (std::size_t len = 0; len < 40; ++len) {
      const std::string plain(len, 'x');
      for (std::size_t at = 0; at <= len; ++at) {
        for (const auto& [written, read] : escapes) {
          const std::string raw = plain.substr(0, at) + written + plain.substr(at);
          const std::string want = plain.substr(0, at) + read + plain.substr(at);
          const std::string text =
              "{" + std::string(pad, ' ') + "\"" + raw + "\":\"" + raw + "\",\"z\":\"" + plain + "\"}";
          BOOST_TEST_CONTEXT("len " << len << " at " << at << " " << written << " pad " << pad) {
            json::Document d, l;
            json::ParseError e;
            BOOST_TEST_REQUIRE(json::parse(text, d, e), e.message);
            BOOST_TEST_REQUIRE(json::parse_line(text, l, e), e.message);
            for (const json::Document* doc : {&d, &l}) {
              BOOST_TEST_REQUIRE(doc->MemberCount() == 2u);
              const auto& m = *doc->MemberBegin();
              BOOST_TEST(std::string(m.name.GetString(), m.name.GetStringLength()) == want);
              BOOST_TEST(*json::string(json::member(*doc, want)) == want);
              BOOST_TEST(*json::string(json::member(*doc, "z")) == plain);
            }
            // parse_line leaves its strings in its buffer, each ended by a NUL where its quote stood.
            const auto& m = *l.MemberBegin();
            BOOST_TEST(std::strlen(m.name.GetString()) == want.size());
            BOOST_TEST(std::strlen(json::member(l, "z")->GetString()) == plain.size());
          }
        }
        const std::string tab = plain.substr(0, at) + "\t" + plain.substr(at);
        json::Document d;
        json::ParseError e;
        BOOST_TEST(!json::parse_line("{\"a\":\"" + tab + "\"}", d, e), "tab at " << at << " of " << len);
        BOOST_TEST(!json::parse_line("{\"" + tab + "\":1}", d, e), "tab in key at " << at << " of " << len);
      }
      json::Document d;
      json::ParseError e;
      BOOST_TEST(!json::parse_line("{\"a\":\"" + plain, d, e), "unterminated, " << len);
      BOOST_TEST(!json::parse_line("{\"a\":\"" + plain + "\\", d, e), "unterminated after \\, " << len);
      BOOST_TEST(json::parse_line("{\"a\":\"" + plain + "\"}", d, e));
      BOOST_TEST(*json::string(json::member(d, "a")) == plain);
    }
  }
  // A string longer than the limit is refused by the handler as before.
  json::Limits small;
  small.max_string = 20;
  json::Document d;
  json::ParseError e;
  BOOST_TEST(json::parse_line("{\"a\":\"" + std::string(20, 'y') + "\"}", d, e, small));
  BOOST_TEST(!json::parse_line("{\"a\":\"" + std::string(21, 'y') + "\"}", d, e, small));
  BOOST_TEST(e.message.find("longer than 20") != std::string::npos, e.message);
  BOOST_TEST(!json::parse_line("{\"" + std::string(21, 'y') + "\":1}", d, e, small));
}

BOOST_AUTO_TEST_CASE(duplicate_names_are_found_wherever_they_are) {
  // Up to 40 distinct names that all share length, first and last byte (the duplicate filter's signature),
  // and three more; objects of 3, 13, 32 (the filtered check's limit), 33 and 43 names (a hash set's).
  for (const int k : {0, 10, 29, 30, 40}) {
    std::string members = R"("abXcd":1,"abYcd":2,"":3)";
    for (int i = 0; i < k; ++i)
      members +=
          ",\"k" + std::string(1, char('a' + i % 26)) + std::to_string(i / 26) + "x\":" + std::to_string(i);
    BOOST_TEST_CONTEXT("names: " << k + 3) {
      BOOST_TEST(parses("{" + members + "}"));
      std::string why;
      for (const char* dup : {R"("ka0x":9)", R"("abYcd":9)", R"("":9)", R"("abXcd":9)"}) {
        if (k == 0 && dup[1] == 'k') continue;
        BOOST_TEST_CONTEXT(dup) {
          BOOST_TEST(!parses("{" + members + "," + dup + "}", &why));
          BOOST_TEST(why.find("duplicate") != std::string::npos);
          // First, and nested in an array inside an object.
          BOOST_TEST(!parses("{" + std::string(dup) + "," + members + "}", &why));
          BOOST_TEST(!parses(R"({"a":[1,{"b":{)" + members + "," + dup + "}}]}", &why));
        }
      }
    }
  }
}

// Of several repeated names in one object, the one whose first occurrence comes first is named, in a small
// object and in a wide one alike.
BOOST_AUTO_TEST_CASE(the_first_repeated_name_is_reported) {
  std::string why;
  BOOST_TEST(!parses(R"({"a":1,"b":2,"b":3,"a":4})", &why));
  BOOST_TEST(why == R"(duplicate member name "a")");
  std::string wide = R"({"z":0,"y":0)";
  for (int i = 0; i < 40; ++i) wide += ",\"k" + std::to_string(i) + "\":0";
  BOOST_TEST(!parses(wide + R"(,"y":1,"z":1})", &why));
  BOOST_TEST(why == R"(duplicate member name "z")");
  BOOST_TEST(!parses(wide + R"(,"k7":1,"y":1,"k3":1})", &why));
  BOOST_TEST(why == R"(duplicate member name "y")");
  std::string same = "{";
  for (int i = 0; i < 1000; ++i) same += std::string(i ? "," : "") + R"("x":0)";
  BOOST_TEST(!parses(same + "}", &why));
  BOOST_TEST(why == R"(duplicate member name "x")");
}

// A hostile server's object of 100,000 names (all with one filter signature) is checked in n log n time, and
// a repeated name among them is still found, wherever it is.
BOOST_AUTO_TEST_CASE(duplicate_names_in_a_very_wide_object) {
  std::string members;
  for (int i = 0; i < 100000; ++i) members += (i ? ",\"k" : "\"k") + std::to_string(100000 + i) + "x\":0";
  BOOST_TEST(parses("{" + members + "}"));
  std::string why;
  for (const char* dup : {R"("k100000x":1)", R"("k150000x":1)", R"("k199999x":1)"}) {
    BOOST_TEST(!parses("{" + members + "," + dup + "}", &why), dup);
    BOOST_TEST(why == std::string("duplicate member name \"") + std::string(dup + 1, 8) + "\"", why);
  }
}

// Names are unique per object: the same name in sibling, nested or array element objects is no duplicate.
BOOST_AUTO_TEST_CASE(duplicate_names_are_per_object) {
  for (const char* ok :
       {R"({"a":{"x":1},"b":{"x":2}})", R"({"x":{"y":1},"y":2,"z":{"x":3}})",
        R"({"a":[{"k":1},{"k":2}],"k":[{"a":1}]})", R"([{"a":1},{"a":2}])", R"({"a":{"q":1},"q":2})"})
    BOOST_TEST(parses(ok), ok);
  json::Document d;
  json::ParseError e;
  BOOST_TEST(!json::parse_line(R"({"x":{"y":1},"y":2,"x":3})", d, e));
  BOOST_TEST(e.message == R"(duplicate member name "x")");
  BOOST_TEST(json::parse_line(R"({"a":1})", d, e));
}

BOOST_AUTO_TEST_CASE(parse_line_leaves_strings_in_its_buffer_until_the_next_parse_line) {
  json::Document a, b;
  json::ParseError err;
  BOOST_TEST_REQUIRE(json::parse_line(R"({"k":"v\u00e9 \"q\"","n":1.50,"e":""})", a, err));
  BOOST_TEST_REQUIRE(json::parse(R"({"k":"other","n":2})", b, err));  // parse() has its own buffer
  BOOST_TEST(*json::string(json::member(a, "k")) == "v\xC3\xA9 \"q\"");
  BOOST_TEST(*json::number_text(json::member(a, "n")) == "1.50");
  BOOST_TEST(json::serialize(a) == "{\"k\":\"v\xC3\xA9 \\\"q\\\"\",\"n\":1.50,\"e\":\"\"}");
  BOOST_TEST(*json::string(json::member(b, "k")) == "other");
  // Refused as parse() refuses.
  BOOST_TEST(!json::parse_line(R"({"a":1,"a":2})", a, err));
  BOOST_TEST(!json::parse_line(std::string(100000, '['), a, err));
  BOOST_TEST(err.message.find("nested deeper") != std::string::npos);
  BOOST_TEST(!json::parse_line("{\"s\": \"\xff\"}", a, err));
  BOOST_TEST(json::parse_line(R"({"ok":true})", a, err));
}

// Every control character is escaped wherever it falls in a key or a string, so that an output line is
// JSON that parse() takes back unchanged. (RapidJSON's own SSE2 writer wrote U+001A-U+001F raw inside a
// 16-byte block: a patient's name with one in it made results.ndjson unreadable, depending on its length.)
BOOST_AUTO_TEST_CASE(control_characters_are_escaped_at_every_offset) {
  std::size_t checked = 0;
  for (int c = 0x02; c < 0x20; ++c)
    for (std::size_t len = 1; len <= 40; ++len)
      for (std::size_t at = 0; at < len; ++at) {
        std::string s(len, 'a');
        s[at] = static_cast<char>(c);
        json::Writer w;
        w.begin_object().key("k" + s).str(s).key("n").begin_array().str(s).end_array().end_object();
        const std::string out(w.view());
        BOOST_TEST_CONTEXT("char " << c << " at " << at << " of " << len) {
          bool raw = false;
          for (const char b : out) raw = raw || static_cast<unsigned char>(b) < 0x20;
          BOOST_TEST(!raw, out);
          json::Document d;
          json::ParseError e;
          BOOST_TEST_REQUIRE(json::parse(out, d, e), e.message);
          const json::Value* v = json::member(d, "k" + s);
          BOOST_TEST_REQUIRE(v != nullptr);
          BOOST_TEST(json::string(v).value_or("") == s);
          BOOST_TEST(json::string(&(*json::member(d, "n"))[0]).value_or("") == s);
          BOOST_TEST(json::serialize(d) == out);  // the same bytes whichever way the string was escaped
          ++checked;
        }
      }
  BOOST_TEST(checked == 30u * 820u);
}
