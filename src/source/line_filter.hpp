#pragma once
// Decides from the raw bytes of an NDJSON line whether it is worth parsing (Sparser, VLDB 2018): most lines
// of a hospital export are resource types, laboratory tests, diagnoses and drugs no criterion reads. The test
// is conservative: whenever the bytes leave any doubt (escapes, a code or text the mappings know, a key that
// needs the parsed resource), the line is parsed.
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace cf::source {

// Lets an unordered_set<std::string> be searched with a string_view, without making a string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

// What makes a line of one resource type worth parsing: the value of any "code" key in it is one of `codes`
// or falls in one of `ranges` (also in the dotted form ICD-10 codes are normalised to: "M329" -> "M32.9"),
// the value of a "text" or "display" key contains one of `texts` (ASCII case folded), or one of the
// `parse_if_key` keys occurs at all. Codes are compared without their system: a superset of what matches.
struct CodeScreen {
  StringSet codes;
  std::vector<std::pair<std::string, std::string>> ranges;  // [lo, hi] on a code's first lo.size() chars
  std::vector<std::string> texts;                           // lower case
  std::vector<std::string> parse_if_key;                    // e.g. "medicationReference"
  // When set, a line in which the screen found nothing is skipped only if this agrees (medication lines: only
  // when their drug's codes name another drug; one the mappings cannot identify must be kept).
  std::function<bool(std::string_view line)> skip_unmatched;
  bool try_dotted = true;  // set by LineFilter: whether any code or bound has a '.' after 3 characters
  // Set by LineFilter: the indexes into `texts` of the patterns starting with each byte (empty when no
  // texts).
  std::vector<std::vector<std::size_t>> texts_by_first;
  std::uint64_t id = 0;  // set by LineFilter: different for every screen of the process (remembered answers)
  // Set by LineFilter: a Bloom filter (one cheap hash) of `codes`, so that most codes in a line (categories,
  // units, interpretations, unmapped tests) are ruled out without hashing them for the set.
  std::vector<std::uint64_t> code_bits;
  // Set by LineFilter: the first bytes a code in one of `ranges` can start with (a code starts after its
  // range's low bound's first byte and before its high bound's), so that most codes skip the ranges.
  std::array<bool, 256> range_first{};
};

struct LineFilterConfig {
  StringSet read_types;  // resource types the pipeline reads
  // Resource type -> its screen. A type read without a screen is always parsed.
  std::unordered_map<std::string, CodeScreen, StringHash, std::equal_to<>> screens;
};

class LineFilter {
 public:
  explicit LineFilter(LineFilterConfig c);
  // Not copied: each thread remembers a filter's lookups by its id (and points into its screens).
  LineFilter(const LineFilter&) = delete;
  LineFilter& operator=(const LineFilter&) = delete;

  // other_type: a resource type the pipeline does not read; irrelevant: a type it reads, but its screen
  // found nothing in the line.
  enum class Verdict { parse, other_type, irrelevant };
  // `type` receives the sniffed resourceType (a view into `line`) unless the verdict is parse.
  Verdict check(std::string_view line, std::string_view& type) const;

 private:
  // Lines that do not start with the resourceType, or hold a \u escape: escapes are honoured, at the price of
  // several passes over the line.
  Verdict check_escaped(std::string_view line, std::string_view& type) const;
  static Verdict nothing_found(const CodeScreen& s, std::string_view line);
  static bool code_matches(const CodeScreen& s, std::string_view code);
  static bool text_matches(const CodeScreen& s, std::string_view value);  // scan_texts, remembered
  static bool scan_texts(const CodeScreen& s, std::string_view value);
  LineFilterConfig c_;
  std::uint64_t id_ = 0;  // different for every filter of the process (remembered lookups)
};

}  // namespace cf::source
