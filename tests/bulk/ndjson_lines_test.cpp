// source::NdjsonLines: the line splitter shared by the NDJSON readers (Bulk export files now, FileSource
// next).
#define BOOST_TEST_MODULE ndjson_lines
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "source/ndjson_lines.hpp"

namespace {

struct Line {
  std::size_t no;
  std::string text;
  bool too_long;
  bool operator==(const Line&) const = default;
};

// Feeds `text` in chunks of `chunk` bytes.
std::vector<Line> split(const std::string& text, std::size_t chunk, std::size_t max_line = 1000) {
  std::vector<Line> out;
  cf::source::NdjsonLines s(
      [&](std::size_t no, std::string_view l, bool tl) {
        out.push_back({no, std::string(l), tl});
      },
      max_line);
  for (std::size_t i = 0; i < text.size(); i += chunk) s.feed(std::string_view(text).substr(i, chunk));
  s.finish();
  BOOST_TEST(s.lines() == out.size());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(lines_crlf_blank_and_last_line_without_newline) {
  const std::string text = "{\"a\":1}\r\n\n{\"b\":2}\n{\"c\":3}";
  const std::vector<Line> want = {
      {1, "{\"a\":1}", false}, {2, "", false}, {3, "{\"b\":2}", false}, {4, "{\"c\":3}", false}};
  for (std::size_t chunk : {1, 2, 3, 7, 100}) BOOST_TEST(split(text, chunk) == want, "chunk " << chunk);
}

BOOST_AUTO_TEST_CASE(empty_text_has_no_lines) {
  BOOST_TEST(split("", 10).empty());
  BOOST_TEST(split("\n", 10).size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_line_over_the_limit_is_reported_once_in_any_chunking) {
  const std::string text = "ok\n" + std::string(50, 'x') + "\nafter\n" + std::string(50, 'y');
  const std::vector<Line> want = {{1, "ok", false}, {2, "", true}, {3, "after", false}, {4, "", true}};
  for (std::size_t chunk : {1, 5, 20, 49, 51, 1000})
    BOOST_TEST(split(text, chunk, 20) == want, "chunk " << chunk);
}
