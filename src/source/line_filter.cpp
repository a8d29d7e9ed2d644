#include "source/line_filter.hpp"

#include <cstring>

namespace cf::source {

namespace {

std::size_t find(std::string_view hay, std::string_view needle, std::size_t from = 0) {
  if (from >= hay.size()) return std::string_view::npos;
  const void* p = ::memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
  return p ? static_cast<std::size_t>(static_cast<const char*>(p) - hay.data()) : std::string_view::npos;
}

// The string value after `"key"` `:` starting at `pos` (just past the key), or npos when it is not a plain
// string (an escape inside makes the caller parse the line).
bool string_value_after(std::string_view s, std::size_t pos, std::string_view& out) {
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
  if (pos >= s.size() || s[pos] != ':') return false;
  ++pos;
  while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t')) ++pos;
  if (pos >= s.size() || s[pos] != '"') return false;
  const std::size_t start = pos + 1;
  const std::size_t end = s.find('"', start);
  if (end == std::string_view::npos) return false;
  out = s.substr(start, end - start);
  return out.find('\\') == std::string_view::npos;
}

}  // namespace

LineFilter::Verdict LineFilter::check(std::string_view line, std::string& type) const {
  static constexpr std::string_view kType = "\"resourceType\"";
  const std::size_t at = find(line, kType);
  if (at == std::string_view::npos) return Verdict::parse;  // let the parser report it
  if (find(line, kType, at + kType.size()) != std::string_view::npos)
    return Verdict::parse;  // contained resources
  std::string_view t;
  if (!string_value_after(line, at + kType.size(), t)) return Verdict::parse;
  if (!c_.read_types.count(std::string(t))) {
    type.assign(t);
    return Verdict::other_type;
  }
  if (t != "Observation" || !c_.filter_observations) return Verdict::parse;
  if (find(line, "\\u") != std::string_view::npos)
    return Verdict::parse;  // escaped text could hide a pattern
  static constexpr std::string_view kCode = "\"code\"";
  std::string key;
  for (std::size_t pos = find(line, kCode); pos != std::string_view::npos; pos = find(line, kCode, pos + 1)) {
    std::string_view v;
    if (!string_value_after(line, pos + kCode.size(), v)) continue;
    key.assign(v);
    if (c_.observation_codes.count(key)) return Verdict::parse;
  }
  if (c_.observation_texts.empty()) return Verdict::irrelevant_observation;
  // Text patterns are matched (by the terminology) only against CodeableConcept.text and Coding.display, so
  // only the string values of "text" and "display" keys need looking at: far less than the whole line.
  std::string lowered;
  for (std::string_view k : {std::string_view("\"display\""), std::string_view("\"text\"")}) {
    for (std::size_t pos = find(line, k); pos != std::string_view::npos; pos = find(line, k, pos + 1)) {
      std::string_view v;
      if (!string_value_after(line, pos + k.size(), v)) {
        // Not a plain string: an object (narrative text.div) is fine, an escaped string could hide a pattern.
        std::size_t p = pos + k.size();
        while (p < line.size() && (line[p] == ' ' || line[p] == ':' || line[p] == '\t')) ++p;
        if (p < line.size() && line[p] == '"') return Verdict::parse;
        continue;
      }
      lowered.assign(v);
      for (auto& ch : lowered)
        if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
      for (const auto& text : c_.observation_texts)
        if (lowered.find(text) != std::string::npos) return Verdict::parse;
    }
  }
  return Verdict::irrelevant_observation;
}

}  // namespace cf::source
