#pragma once
// Splits NDJSON text into lines as it arrives in chunks (a file read in blocks, an HTTP body), so that every
// NDJSON reader counts lines the same way: LF ends a line, a CR before it is dropped, the last line needs no
// newline, and a line longer than the limit is reported once (too_long, empty text) instead of being held in
// memory. Blank lines are passed on too (with their number); callers skip them.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace cf::source {

inline constexpr std::size_t kMaxNdjsonLine = 64u * 1024u * 1024u;

class NdjsonLines {
 public:
  // line_no is 1-based; `line` is only valid during the call.
  using OnLine = std::function<void(std::size_t line_no, std::string_view line, bool too_long)>;

  explicit NdjsonLines(OnLine on_line, std::size_t max_line = kMaxNdjsonLine)
      : on_line_(std::move(on_line)), max_line_(max_line) {}

  void feed(std::string_view chunk);
  // Delivers a last line that has no newline. Call once, after the last feed().
  void finish();

  std::size_t lines() const { return line_no_; }
  // Whether the text seen so far ended with a newline (or was empty).
  bool ended_with_newline() const { return carry_.empty() && !skipping_; }

 private:
  void emit(std::string_view line);

  OnLine on_line_;
  std::size_t max_line_;
  std::string carry_;  // a line that spans chunks
  bool skipping_ = false;
  std::size_t line_no_ = 0;
};

}  // namespace cf::source
