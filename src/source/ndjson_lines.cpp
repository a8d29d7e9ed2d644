#include "source/ndjson_lines.hpp"

#include <cstring>

namespace cf::source {

void NdjsonLines::emit(std::string_view line) {
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  on_line_(line_no_, line, false);
}

void NdjsonLines::feed(std::string_view chunk) {
  while (!chunk.empty()) {
    const void* nl = std::memchr(chunk.data(), '\n', chunk.size());
    if (!nl) {
      if (!skipping_) carry_.append(chunk);
      if (carry_.size() > max_line_) {
        skipping_ = true;
        carry_.clear();
        carry_.shrink_to_fit();
      }
      return;
    }
    const auto len = static_cast<std::size_t>(static_cast<const char*>(nl) - chunk.data());
    if (skipping_) {
      ++line_no_;
      on_line_(line_no_, {}, true);
      skipping_ = false;
    } else if (carry_.empty()) {
      if (len > max_line_) {
        ++line_no_;
        on_line_(line_no_, {}, true);
      } else {
        emit(chunk.substr(0, len));
      }
    } else if (carry_.size() + len > max_line_) {
      carry_.clear();
      ++line_no_;
      on_line_(line_no_, {}, true);
    } else {
      carry_.append(chunk.substr(0, len));
      emit(carry_);
      carry_.clear();
    }
    chunk.remove_prefix(len + 1);
  }
}

void NdjsonLines::finish() {
  if (skipping_) {
    ++line_no_;
    on_line_(line_no_, {}, true);
    skipping_ = false;
  } else if (!carry_.empty()) {
    std::string last;
    last.swap(carry_);
    emit(last);
  }
}

}  // namespace cf::source
