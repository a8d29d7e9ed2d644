#pragma once
// Finds members of a JSON text's top-level object on its raw bytes, without parsing the rest: for the line
// prefilter, which needs a small part of a long line (a drug's code among its dosage instructions).
#include <cstddef>
#include <span>
#include <string_view>

namespace cf::json {

enum class RawMember {
  absent,     // the top-level object has no such key
  once,       // exactly one: its value's bytes, surrounding whitespace removed
  ambiguous,  // the key repeats, a top-level key has an escape, or the text is not one well-nested object
};

// Strings are skipped with their escapes honoured, so a key spelled inside a string or a nested object is
// never taken for a top-level one. A value is not checked to be valid JSON: parse it. A text that is not one
// well-nested object, or has a top-level key with an escape (it may spell any key), makes every key
// ambiguous.
RawMember raw_top_level_member(std::string_view text, std::string_view key, std::string_view& value);
// The same for several keys in one pass: found[i] and values[i] for keys[i] (the spans of equal size).
void raw_top_level_members(std::string_view text, std::span<const std::string_view> keys,
                           std::span<RawMember> found, std::span<std::string_view> values);

// JSON's whitespace (RFC 8259): space, tab, line feed, carriage return. For scanners of raw bytes.
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

}  // namespace cf::json
