#pragma once
// Finds one member of a JSON text's top-level object on its raw bytes, without parsing the rest: for the
// line prefilter, which needs a small part of a long line (a drug's code among its dosage instructions).
#include <string_view>

namespace cf::json {

enum class RawMember {
  absent,     // the top-level object has no such key
  once,       // exactly one: `value` holds its value's bytes, surrounding whitespace removed
  ambiguous,  // the key repeats, a top-level key has an escape, or the text is not one well-nested object
};

// Strings are skipped with their escapes honoured, so a key spelled inside a string or a nested object is
// never taken for a top-level one. The value is not checked to be valid JSON: parse it.
RawMember raw_top_level_member(std::string_view text, std::string_view key, std::string_view& value);

}  // namespace cf::json
