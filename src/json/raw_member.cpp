#include "json/raw_member.hpp"

#include <cstring>

namespace cf::json {

namespace {

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

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

}  // namespace

RawMember raw_top_level_member(std::string_view s, std::string_view key, std::string_view& value) {
  std::size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  if (i >= s.size() || s[i] != '{') return RawMember::ambiguous;
  std::size_t depth = 0;
  bool expect_key = false;  // at depth 1, after '{' or ','
  bool in_value = false;    // inside the value of `key`
  std::size_t value_start = 0, found = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      const std::size_t end = string_end(s, i);
      if (end == std::string_view::npos) return RawMember::ambiguous;
      if (depth == 1 && expect_key) {
        const std::string_view name = s.substr(i + 1, end - i - 1);
        if (name.find('\\') != std::string_view::npos) return RawMember::ambiguous;  // may spell `key`
        expect_key = false;
        if (name == key) {
          if (++found > 1) return RawMember::ambiguous;
          std::size_t p = end + 1;
          while (p < s.size() && space(s[p])) ++p;
          if (p >= s.size() || s[p] != ':') return RawMember::ambiguous;
          ++p;
          while (p < s.size() && space(s[p])) ++p;
          value_start = p;
          in_value = true;
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
        if (depth == 0) return RawMember::ambiguous;
        if (depth == 1 && in_value) {
          std::size_t e = i;
          while (e > value_start && space(s[e - 1])) --e;
          value = s.substr(value_start, e - value_start);
          in_value = false;
        }
        if (--depth == 0) {
          for (std::size_t r = i + 1; r < s.size(); ++r)
            if (!space(s[r])) return RawMember::ambiguous;
          return found ? RawMember::once : RawMember::absent;
        }
        break;
      case ',':
        if (depth == 1) {
          if (in_value) {
            std::size_t e = i;
            while (e > value_start && space(s[e - 1])) --e;
            value = s.substr(value_start, e - value_start);
            in_value = false;
          }
          expect_key = true;
        }
        break;
      default:
        break;
    }
  }
  return RawMember::ambiguous;  // the object never closed
}

}  // namespace cf::json
