#pragma once
// The project's only door to RapidJSON. Parsing is bounded (depth, string size, UTF-8 validation, no NaN, no
// trailing garbage, duplicate keys rejected) and keeps numbers exact: a JSON number is stored as its source
// text behind a one-byte marker, so that "2.50" reaches the unit code as written (STYLE.md practice 6).
#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "core/result.hpp"

namespace cf::json {

using Value = rapidjson::Value;
using Document = rapidjson::Document;

struct Limits {
  std::size_t max_depth = 100;                   // FHIR resources nest far less; RELIABILITY D1
  std::size_t max_string = 16u * 1024u * 1024u;  // one string (attachments are not used by the tool)
};

// Where a parse failed: 1-based line and column within the text given, and the reason.
struct ParseError {
  std::size_t line = 0;
  std::size_t column = 0;
  std::string message;
};

// Parses one complete JSON text. On failure `doc` is left null.
bool parse(std::string_view text, Document& doc, ParseError& err, const Limits& limits = {});
// The same for the NDJSON readers' hot loop, without copying every string into the Document: its strings
// point into a buffer of the calling thread, so the Document may be read only until that thread's next
// parse_line() (parse() has its own buffer and does not disturb it).
bool parse_line(std::string_view text, Document& doc, ParseError& err, const Limits& limits = {});

// A Document for parsing many texts one after another (NDJSON lines): the values of each text live in a
// buffer the document keeps, instead of memory taken from and given back to the heap for every line.
class LineDocument {
 public:
  LineDocument();
  LineDocument(const LineDocument&) = delete;
  LineDocument& operator=(const LineDocument&) = delete;
  Document& doc() { return doc_; }
  operator Document&() { return doc_; }

 private:
  static constexpr std::size_t kBytes = 64 * 1024;
  std::unique_ptr<char[]> buffer_;
  rapidjson::MemoryPoolAllocator<> pool_;
  Document doc_;
};

// Streams a JSON file whose root is an object. Members of the root are collected into `root`, except the
// elements of a root-level "entry" array: each element (a Bundle entry object) is parsed into its own
// Document and handed to `on_entry` with its index, then discarded. Memory is bounded by the largest entry,
// not the file. Returns false with `err` on a syntax error; entries delivered before it stay delivered. An
// entry deeper than the limit is skipped and reported through `on_skipped`.
struct StreamCallbacks {
  std::function<void(std::size_t index, Document& entry)> on_entry;
  std::function<void(std::size_t index, const std::string& why)> on_skipped;
};
bool stream_object_file(std::FILE* file, Document& root, const StreamCallbacks& cb, ParseError& err,
                        const Limits& limits = {});

// --- Reading values
// -------------------------------------------------------------------------------------------
const Value* member(const Value& obj, std::string_view key);
const Value* member(const Value* obj, std::string_view key);
bool is_object(const Value* v);
bool is_array(const Value* v);
// A JSON string (not a number); nullptr-safe.
std::optional<std::string_view> string(const Value* v);
// A JSON number's exact source text; nullopt for anything else.
std::optional<std::string_view> number_text(const Value* v);
std::optional<bool> boolean(const Value* v);
// Iterate an array (an absent or non-array value iterates nothing).
template <class F>
void for_each(const Value* arr, F&& f) {
  if (!arr || !arr->IsArray()) return;
  std::size_t i = 0;
  for (const auto& el : arr->GetArray()) f(i++, el);
}
// Re-serialises a value (numbers as their original text).
std::string serialize(const Value& v);

// --- Writing
// --------------------------------------------------------------------------------------------------
class Writer {
 public:
  Writer();
  ~Writer();
  Writer& begin_object();
  Writer& end_object();
  Writer& begin_array();
  Writer& end_array();
  Writer& key(std::string_view k);
  Writer& str(std::string_view s);
  Writer& raw_number(std::string_view digits);  // must be valid JSON number text
  Writer& raw_value(std::string_view json);     // an object or array already serialised (valid JSON)
  Writer& integer(long long v);
  Writer& real(double v);
  Writer& boolean(bool v);
  Writer& null();
  Writer& value(const Value& v);  // copy a parsed value (exact numbers)
  // Convenience: key + string, skipped when the string is empty.
  Writer& field(std::string_view k, std::string_view s);
  std::string_view view() const;
  void clear();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cf::json
