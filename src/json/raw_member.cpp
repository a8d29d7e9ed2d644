#include "json/raw_member.hpp"

#include <algorithm>
#include <cstring>

namespace cf::json {

namespace {

// The index of the quote that closes the string opening at `open`, or npos: the first quote not escaped by
// an odd run of backslashes before it.
std::size_t string_end(std::string_view s, std::size_t open) {
  std::size_t i = open + 1;
  while (true) {
    const void* q = std::memchr(s.data() + i, '"', s.size() - i);
    if (!q) return std::string_view::npos;
    const std::size_t at = static_cast<std::size_t>(static_cast<const char*>(q) - s.data());
    std::size_t slashes = 0;
    while (at - slashes > open + 1 && s[at - slashes - 1] == '\\') ++slashes;
    if (slashes % 2 == 0) return at;
    i = at + 1;
  }
}

// Whether the top-level object is well nested; fills found/values as it goes.
bool scan(std::string_view s, std::span<const std::string_view> keys, std::span<RawMember> found,
          std::span<std::string_view> values) {
  std::size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  if (i >= s.size() || s[i] != '{') return false;
  std::size_t depth = 0;
  bool expect_key = false;             // at depth 1, after '{' or ','
  std::size_t in_value = keys.size();  // the key whose value is being scanned, or keys.size()
  std::size_t value_start = 0;
  auto end_value = [&](std::size_t at) {
    std::size_t e = at;
    while (e > value_start && is_space(s[e - 1])) --e;
    values[in_value] = s.substr(value_start, e - value_start);
    in_value = keys.size();
  };
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      const std::size_t end = string_end(s, i);
      if (end == std::string_view::npos) return false;
      if (depth == 1 && expect_key) {
        const std::string_view name = s.substr(i + 1, end - i - 1);
        if (name.find('\\') != std::string_view::npos) return false;  // may spell any key
        expect_key = false;
        const auto k = static_cast<std::size_t>(std::find(keys.begin(), keys.end(), name) - keys.begin());
        if (k < keys.size()) {
          if (found[k] != RawMember::absent) return false;  // the parser rejects a repeated key
          found[k] = RawMember::once;
          std::size_t p = end + 1;
          while (p < s.size() && is_space(s[p])) ++p;
          if (p >= s.size() || s[p] != ':') return false;
          ++p;
          while (p < s.size() && is_space(s[p])) ++p;
          value_start = p;
          in_value = k;
          i = p - 1;
          continue;
        }
      }
      i = end;
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        ++depth;
        expect_key = depth == 1;
        break;
      case '}':
      case ']':
        if (depth == 0) return false;
        if (depth == 1 && in_value < keys.size()) end_value(i);
        if (--depth == 0) {
          for (std::size_t r = i + 1; r < s.size(); ++r)
            if (!is_space(s[r])) return false;
          return true;
        }
        break;
      case ',':
        if (depth == 1) {
          if (in_value < keys.size()) end_value(i);
          expect_key = true;
        }
        break;
      default:
        break;
    }
  }
  return false;  // the object never closed
}

}  // namespace

void raw_top_level_members(std::string_view text, std::span<const std::string_view> keys,
                           std::span<RawMember> found, std::span<std::string_view> values) {
  std::fill(found.begin(), found.end(), RawMember::absent);
  if (!scan(text, keys, found, values)) std::fill(found.begin(), found.end(), RawMember::ambiguous);
}

RawMember raw_top_level_member(std::string_view text, std::string_view key, std::string_view& value) {
  RawMember found = RawMember::absent;
  raw_top_level_members(text, std::span<const std::string_view>(&key, 1), std::span<RawMember>(&found, 1),
                        std::span<std::string_view>(&value, 1));
  return found;
}

}  // namespace cf::json
