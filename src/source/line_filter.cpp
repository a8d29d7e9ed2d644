#include "source/line_filter.hpp"

#include <cstring>

namespace cf::source {

namespace {

std::size_t find(std::string_view hay, std::string_view needle, std::size_t from = 0) {
  if (from >= hay.size()) return std::string_view::npos;
  const void* p = ::memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
  return p ? static_cast<std::size_t>(static_cast<const char*>(p) - hay.data()) : std::string_view::npos;
}

// The string value after `"key"` `:` starting at `pos` (just past the key), or npos when it is not a plain string
// (an escape inside makes the caller parse the line).
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

bool contains_ci(std::string_view hay, std::string_view lower_needle) {
  if (lower_needle.empty() || hay.size() < lower_needle.size()) return false;
  const unsigned char first = static_cast<unsigned char>(lower_needle[0]);
  const bool alpha = first >= 'a' && first <= 'z';
  for (std::size_t i = 0; i + lower_needle.size() <= hay.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(hay[i]);
    if (alpha && c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
    if (c != first) continue;
    std::size_t k = 1;
    for (; k < lower_needle.size(); ++k) {
      unsigned char h = static_cast<unsigned char>(hay[i + k]);
      if (h >= 'A' && h <= 'Z') h = static_cast<unsigned char>(h - 'A' + 'a');
      if (h != static_cast<unsigned char>(lower_needle[k])) break;
    }
    if (k == lower_needle.size()) return true;
  }
  return false;
}

}  // namespace

LineFilter::Verdict LineFilter::check(std::string_view line, std::string& type) const {
  static constexpr std::string_view kType = "\"resourceType\"";
  const std::size_t at = find(line, kType);
  if (at == std::string_view::npos) return Verdict::parse;                          // let the parser report it
  if (find(line, kType, at + kType.size()) != std::string_view::npos) return Verdict::parse;  // contained resources
  std::string_view t;
  if (!string_value_after(line, at + kType.size(), t)) return Verdict::parse;
  if (!c_.read_types.count(std::string(t))) {
    type.assign(t);
    return Verdict::other_type;
  }
  if (t != "Observation" || !c_.filter_observations) return Verdict::parse;
  if (find(line, "\\u") != std::string_view::npos) return Verdict::parse;  // escaped text could hide a pattern
  static constexpr std::string_view kCode = "\"code\"";
  std::string key;
  for (std::size_t pos = find(line, kCode); pos != std::string_view::npos; pos = find(line, kCode, pos + 1)) {
    std::string_view v;
    if (!string_value_after(line, pos + kCode.size(), v)) continue;
    key.assign(v);
    if (c_.observation_codes.count(key)) return Verdict::parse;
  }
  for (const auto& text : c_.observation_texts)
    if (contains_ci(line, text)) return Verdict::parse;
  return Verdict::irrelevant_observation;
}

}  // namespace cf::source
