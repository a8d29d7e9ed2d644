#pragma once
// Decides from the raw bytes of an NDJSON line whether it is worth parsing (Sparser, VLDB 2018): most lines
// of a hospital export are resource types or laboratory tests no criterion reads. The test is conservative:
// whenever the bytes leave any doubt (escapes, several resourceType keys, a code or text the mappings know),
// the line is parsed.
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace cf::source {

// Lets an unordered_set<std::string> be searched with a string_view, without making a string.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

struct LineFilterConfig {
  StringSet read_types;                        // resource types the pipeline reads
  StringSet observation_codes;                 // any code of an observation concept (any system)
  std::vector<std::string> observation_texts;  // lower-case ASCII/UTF-8 substrings of mapped text patterns
  bool filter_observations = true;             // false: every Observation line is parsed
};

class LineFilter {
 public:
  explicit LineFilter(LineFilterConfig c) : c_(std::move(c)) {}

  enum class Verdict { parse, other_type, irrelevant_observation };
  // `type` receives the sniffed resourceType when the verdict is other_type.
  Verdict check(std::string_view line, std::string& type) const;

 private:
  // Lines with a backslash anywhere: escapes are honoured, at the price of several passes over the line.
  Verdict check_escaped(std::string_view line, std::string& type) const;
  bool text_matches(std::string_view value) const;
  LineFilterConfig c_;
};

}  // namespace cf::source
