#include "json/json.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <rapidjson/error/en.h>
#include <rapidjson/filereadstream.h>
#include <rapidjson/reader.h>

#include "core/cpu.hpp"

namespace cf::json {

namespace {

// A JSON number is kept as a string whose first byte is this marker. FHIR strings may not contain control
// characters, so a real string starting with it is rejected while parsing.
constexpr char kNumberMark = '\x01';
constexpr unsigned kFlags = rapidjson::kParseIterativeFlag | rapidjson::kParseValidateEncodingFlag |
                            rapidjson::kParseNumbersAsStringsFlag;
// parse() validates UTF-8 itself, over the whole text before the reader sees it: the reader's own validation
// decodes every byte of every string one at a time (a fifth of a run's instructions), and without it the
// reader finds the end of a string 16 bytes at a time (RAPIDJSON_SSE2, set by CMakeLists.txt on x86-64). It
// parses in place (see parse()) and recursively (fewer instructions than the iterative reader): the Router
// refuses to open a level past Limits::max_depth, so the recursion never goes deeper than that.
constexpr unsigned kTextFlags = rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseInsituFlag;

bool populate_ok(Document&) {
  return true;
}
bool populate_clear(Document&) {
  return false;
}

// Finishes a Document that received SAX events directly (its root is on its internal stack).
void finish(Document& d) {
  auto g = populate_ok;
  d.Populate(g);
}
void discard(Document& d) {
  auto g = populate_clear;
  d.Populate(g);
  d.SetNull();
}

constexpr const char* kNumberNotText = "internal: number not delivered as text";

// The one string check of both routers: every string passes through it, so the common case is one inline
// test, and string_problem() says why a refused one was refused.
inline bool string_ok(const char* s, rapidjson::SizeType n, const Limits& limits) {
  return n <= limits.max_string && (n == 0 || s[0] != kNumberMark);
}

// Why a string is refused (longer than the limit, or starting with the number mark).
std::string string_problem(const char* s, rapidjson::SizeType n, const Limits& limits) {
  if (n > limits.max_string) return "a string is longer than " + std::to_string(limits.max_string) + " bytes";
  if (n > 0 && s[0] == kNumberMark) return "a string starts with a control character";
  return {};
}

// Receives reader events and forwards them to the root document or, for elements of a root-level "entry"
// array when splitting, to a fresh per-entry document.
class Router {
 public:
  Router(Document& root, const Limits& limits, const StreamCallbacks* split)
      : root_(root), limits_(limits), cb_(split) {}

  bool Null() {
    return scalar([](Document& d) { return d.Null(); });
  }
  bool Bool(bool b) {
    return scalar([b](Document& d) { return d.Bool(b); });
  }
  bool Int(int) { return unexpected_number(); }
  bool Uint(unsigned) { return unexpected_number(); }
  bool Int64(int64_t) { return unexpected_number(); }
  bool Uint64(uint64_t) { return unexpected_number(); }
  bool Double(double) { return unexpected_number(); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    tmp_.assign(1, kNumberMark);
    tmp_.append(s, n);
    return scalar([this](Document& d) {
      return d.String(tmp_.data(), static_cast<rapidjson::SizeType>(tmp_.size()), true);
    });
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    if (!check_string(s, n)) return on_bad_value();
    return scalar([&](Document& d) { return d.String(s, n, true); });
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (!check_string(s, n)) return on_bad_value();
    if (mode_ == Mode::root && depth_ == 1 && cb_ && n == 5 && std::memcmp(s, "entry", 5) == 0) {
      pending_entry_key_ = true;
      return true;
    }
    if (mode_ == Mode::skip) return true;
    return target().Key(s, n, true);
  }
  bool StartObject() { return open(true); }
  bool EndObject(rapidjson::SizeType n) { return close(true, n); }
  bool StartArray() { return open(false); }
  bool EndArray(rapidjson::SizeType n) { return close(false, n); }

  std::string abort_reason;

 private:
  enum class Mode { root, entry_array, in_entry, skip };

  Document& target() { return mode_ == Mode::in_entry ? *entry_ : root_; }

  bool unexpected_number() {
    abort_reason = kNumberNotText;
    return false;
  }

  bool check_string(const char* s, rapidjson::SizeType n) {
    if (string_ok(s, n, limits_)) return true;
    bad_ = string_problem(s, n, limits_);
    return false;
  }

  // A bad string inside an entry skips that entry; anywhere else it ends the parse.
  bool on_bad_value() {
    if (mode_ == Mode::in_entry) {
      start_skip();
      return true;
    }
    if (mode_ == Mode::skip) return true;
    abort_reason = bad_;
    return false;
  }

  void start_skip() {
    discard(*entry_);
    skip_reason_ = bad_;
    mode_ = Mode::skip;
  }

  bool flush_pending_key() {
    if (!pending_entry_key_) return true;
    pending_entry_key_ = false;
    return root_.Key("entry", 5, true);
  }

  template <class F>
  bool scalar(F&& f) {
    switch (mode_) {
      case Mode::skip:
        return true;
      case Mode::entry_array:
        if (cb_->on_skipped) cb_->on_skipped(index_, "entry is not a JSON object");
        ++index_;
        return true;
      case Mode::root:
        if (!flush_pending_key()) return false;
        return f(root_);
      case Mode::in_entry:
        return f(*entry_);
    }
    return false;
  }

  bool open(bool object) {
    ++depth_;
    switch (mode_) {
      case Mode::root:
        if (pending_entry_key_ && !object) {
          pending_entry_key_ = false;
          mode_ = Mode::entry_array;
          array_depth_ = depth_;
          return true;
        }
        if (!flush_pending_key()) return false;
        if (depth_ > limits_.max_depth) {
          abort_reason = "nested deeper than " + std::to_string(limits_.max_depth) + " levels";
          return false;
        }
        return object ? root_.StartObject() : root_.StartArray();
      case Mode::entry_array:
        entry_ = std::make_unique<Document>();
        entry_start_ = depth_;
        if (!object) {
          skip_reason_ = "entry is not a JSON object";
          mode_ = Mode::skip;
          return true;
        }
        mode_ = Mode::in_entry;
        return entry_->StartObject();
      case Mode::in_entry:
        if (depth_ > limits_.max_depth) {
          bad_ = "nested deeper than " + std::to_string(limits_.max_depth) + " levels";
          start_skip();
          return true;
        }
        return object ? entry_->StartObject() : entry_->StartArray();
      case Mode::skip:
        return true;
    }
    return false;
  }

  bool close(bool object, rapidjson::SizeType n) {
    const std::size_t closing = depth_--;
    switch (mode_) {
      case Mode::root:
        if (object && closing == 1) n -= skipped_root_members_;  // the "entry" member was not forwarded
        return object ? root_.EndObject(n) : root_.EndArray(n);
      case Mode::entry_array:
        mode_ = Mode::root;  // the "entry" array ended; it is not copied into the root
        ++skipped_root_members_;
        return true;
      case Mode::in_entry: {
        bool ok = object ? entry_->EndObject(n) : entry_->EndArray(n);
        if (closing == entry_start_) {
          finish(*entry_);
          if (cb_->on_entry) cb_->on_entry(index_, *entry_);
          entry_.reset();
          ++index_;
          mode_ = Mode::entry_array;
        }
        return ok;
      }
      case Mode::skip:
        if (closing == entry_start_) {
          if (cb_->on_skipped) cb_->on_skipped(index_, skip_reason_);
          entry_.reset();
          ++index_;
          mode_ = Mode::entry_array;
        }
        return true;
    }
    return false;
  }

  Document& root_;
  const Limits& limits_;
  const StreamCallbacks* cb_;
  std::unique_ptr<Document> entry_;
  Mode mode_ = Mode::root;
  std::size_t depth_ = 0, array_depth_ = 0, entry_start_ = 0, index_ = 0;
  bool pending_entry_key_ = false;
  rapidjson::SizeType skipped_root_members_ = 0;
  std::string tmp_, bad_, skip_reason_;
};

// The Router's checks for one JSON text (parse(): nothing split off, so nothing to route), straight into the
// Document: the same limits and refusals, without the per-event routing that a Bundle's entries need. Only
// parse_text() may parse with it: the ParseString below, used with this handler, relies on its padded buffer.
class TextRouter {
 public:
  // `copy_strings` false: the Document's strings point into the reader's (insitu) buffer.
  TextRouter(Document& doc, const Limits& limits, bool copy_strings)
      : d_(doc), limits_(limits), copy_(copy_strings) {}

  bool Null() { return d_.Null(); }
  bool Bool(bool b) { return d_.Bool(b); }
  bool Int(int) { return unexpected_number(); }
  bool Uint(unsigned) { return unexpected_number(); }
  bool Int64(int64_t) { return unexpected_number(); }
  bool Uint64(uint64_t) { return unexpected_number(); }
  bool Double(double) { return unexpected_number(); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    tmp_.assign(1, kNumberMark);
    tmp_.append(s, n);
    return d_.String(tmp_.data(), static_cast<rapidjson::SizeType>(tmp_.size()), true);
  }
  bool String(const char* s, rapidjson::SizeType n, bool) {
    return check_string(s, n) && d_.String(s, n, copy_);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) { return check_string(s, n) && d_.Key(s, n, copy_); }
  bool StartObject() { return deeper() && d_.StartObject(); }
  bool EndObject(rapidjson::SizeType n) {
    --depth_;
    return d_.EndObject(n);
  }
  bool StartArray() { return deeper() && d_.StartArray(); }
  bool EndArray(rapidjson::SizeType n) {
    --depth_;
    return d_.EndArray(n);
  }

  std::string abort_reason;

 private:
  bool unexpected_number() {
    abort_reason = kNumberNotText;
    return false;
  }
  bool deeper() {
    if (++depth_ <= limits_.max_depth) return true;
    abort_reason = "nested deeper than " + std::to_string(limits_.max_depth) + " levels";
    return false;
  }
  bool check_string(const char* s, rapidjson::SizeType n) {
    if (string_ok(s, n, limits_)) return true;
    abort_reason = string_problem(s, n, limits_);
    return false;
  }

  Document& d_;
  const Limits& limits_;
  bool copy_;
  std::size_t depth_ = 0;
  std::string tmp_;  // a number with its mark: always copied
};

}  // namespace
}  // namespace cf::json

// RapidJSON's in-situ string scan goes one byte at a time until its pointer is 16-byte aligned, and only then
// 16 bytes at a time: FHIR's strings are mostly shorter than that ("code", "system", "final", a date), so
// nearly every byte took the slow loop (8% of a run's instructions). For parse_text(), whose buffer has
// 32 bytes to spare after the text's NUL, this version loads 16 unaligned bytes from the start. It stops
// at a quote, a backslash or a byte below 0x20 (the NUL at the end, or a raw tab or line break, which JSON
// forbids in a string), where the library's own scan stops too, given that invalid_byte_at() has refused
// 0x1A-0x1F, which that scan lets through; anything but a closing quote goes to the library's own routine,
// which unescapes in place and reports errors as before. It must not validate encodings (parse_text() does)
// and needs the in-situ stream:
static_assert(cf::json::kTextFlags & rapidjson::kParseInsituFlag);
static_assert(!(cf::json::kTextFlags & rapidjson::kParseValidateEncodingFlag));
#if defined(RAPIDJSON_SSE2)
template <>
template <>
void rapidjson::GenericReader<rapidjson::UTF8<>, rapidjson::UTF8<>, rapidjson::CrtAllocator>::ParseString<
    cf::json::kTextFlags, rapidjson::InsituStringStream, cf::json::TextRouter>(
    rapidjson::InsituStringStream& is, cf::json::TextRouter& handler, bool isKey) {
  RAPIDJSON_ASSERT(is.Peek() == '"');
  is.Take();
  char* const head = is.PutBegin();
  char* p = head;
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), below = _mm_set1_epi8(0x1F);
  for (;; p += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                      _mm_cmpeq_epi8(_mm_min_epu8(v, below), v));  // v <= 0x1F
    if (const auto m = static_cast<unsigned>(_mm_movemask_epi8(stop))) {
      p += __builtin_ctz(m);
      break;
    }
  }
  std::size_t length = 0;
  if (*p == '"') {
    *p = '\0';  // what the library writes: the string ends where its quote stood
    is.src_ = is.dst_ = p + 1;
    length = static_cast<std::size_t>(p - head);
  } else {
    is.src_ = is.dst_ = p;  // the unescaped part is already in place
    ParseStringToStream<cf::json::kTextFlags, rapidjson::UTF8<>, rapidjson::UTF8<>>(is, is);
    RAPIDJSON_PARSE_ERROR_EARLY_RETURN_VOID;
    length = is.PutEnd(head) - 1;
  }
  RAPIDJSON_ASSERT(length <= 0xFFFFFFFF);
  const auto n = static_cast<rapidjson::SizeType>(length);
  if (RAPIDJSON_UNLIKELY(!(isKey ? handler.Key(head, n, false) : handler.String(head, n, false))))
    RAPIDJSON_PARSE_ERROR(rapidjson::kParseErrorTermination, is.Tell());
}
#endif

namespace cf::json {
namespace {

#if defined(__x86_64__) && defined(__GNUC__)
// From `i`, the offset of the first byte below 0x20 or above 0x7F in whole 32-byte blocks (or where the
// blocks end), where the processor has AVX2 (checked at run time; the build targets plain x86-64): 4 times as
// far per step as the 8-byte test below, over every line that is parsed.
__attribute__((target("avx2"))) std::size_t first_unusual_avx2(const unsigned char* p, std::size_t i,
                                                               std::size_t n) {
  const __m256i space = _mm256_set1_epi8(0x20);
  for (; i + 32 <= n; i += 32) {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    // Signed: bytes from 0x80 up are negative, so "less than 0x20" holds for them too.
    if (const auto m = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_cmpgt_epi8(space, v))))
      return i + static_cast<unsigned>(__builtin_ctz(m));
  }
  return i;
}
#endif

// The offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629: no overlong form,
// no surrogate, nothing above U+10FFFF) or is a control character other than tab, line feed and carriage
// return (which only whitespace may be; RFC 8259 wants the others escaped even inside strings; NUL among
// them, which would also end the reader's NUL-terminated copy early), or npos;
// `why` says which. RapidJSON's 16-byte string scan lets U+001A-U+001F through in a string and drops them
// from its value ("50\x1e0 MG" read as "500 MG"), so they are refused here, before it sees them. ASCII
// without control characters, most of FHIR JSON, is skipped 32 bytes at a time (8 without AVX2).
std::size_t invalid_byte_at(std::string_view text, const char*& why) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
  const bool avx2 = cpu_has_avx2();
#endif
  while (i < n) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (avx2) {
      i = first_unusual_avx2(p, i, n);
      if (i >= n) break;
    }
#endif
    if (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, p + i, 8);
      constexpr std::uint64_t kHigh = 0x8080808080808080ull, kSpaces = 0x2020202020202020ull;
      // No byte with its high bit set, and none below 0x20 (the classic "has a byte less than" test).
      if ((word & kHigh) == 0 && ((word - kSpaces) & ~word & kHigh) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned c = p[i];
    if (c < 0x20) {
      if (c != '\t' && c != '\n' && c != '\r') {
        why = c == 0 ? "NUL byte in JSON text" : "control character in the JSON text (it must be escaped)";
        return i;
      }
      ++i;
      continue;
    }
    if (c < 0x80) {
      ++i;
      continue;
    }
    why = "invalid UTF-8 byte sequence";
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return i;
    i += len;
  }
  return std::string_view::npos;
}

void locate(std::string_view text, std::size_t offset, ParseError& err) {
  err.line = 1;
  err.column = 1;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++err.line;
      err.column = 1;
    } else {
      ++err.column;
    }
  }
}

template <class R>
std::string reader_message(const rapidjson::Reader& reader, const R& router) {
  if (!router.abort_reason.empty()) return router.abort_reason;
  return rapidjson::GetParseError_En(reader.GetParseErrorCode());
}

// Duplicate member names make a resource ambiguous (RFC 8259 leaves them undefined; RELIABILITY D2). The DOM
// is walked with an explicit stack: its depth is already bounded, but no recursion is needed.
//
// Every object of every parsed line is checked, so this is on the reading path. In an object of up to 32
// names, a name is compared with the earlier ones only when a 128-bit filter of (length, first and last byte)
// says it may repeat one: a resource's top level has about 16 names, which pairwise would take 120
// comparisons. A wider object (a hostile one may have a million names) is checked by sorting its names, so
// that the check takes n log n whatever the names (a hash set's worst case, with names chosen to collide, is
// quadratic). Of several repeated names, the one that comes first is reported.
bool find_duplicate_key(const Value& v, std::string& which) {
  thread_local std::vector<const Value*> stack;  // keeps its capacity: this runs for every text parsed
  stack.assign(1, &v);
  auto view = [](const Value& name) { return std::string_view(name.GetString(), name.GetStringLength()); };
  // The repeated name whose first occurrence comes first, by comparing every pair: for a small object known
  // to hold a repeat.
  auto first_repeated = [&](const Value& obj) {
    for (auto a = obj.MemberBegin(); a != obj.MemberEnd(); ++a)
      for (auto b = a + 1; b != obj.MemberEnd(); ++b)
        if (view(a->name) == view(b->name)) return view(a->name);
    return std::string_view();
  };
  constexpr std::size_t kFilteredUpTo = 32;
  thread_local std::vector<std::pair<std::string_view, std::uint32_t>> sorted;
  while (!stack.empty()) {
    const Value* cur = stack.back();
    stack.pop_back();
    if (cur->IsObject() && cur->MemberCount() > kFilteredUpTo) {
      sorted.clear();
      std::uint32_t i = 0;
      for (auto a = cur->MemberBegin(); a != cur->MemberEnd(); ++a, ++i) {
        sorted.emplace_back(view(a->name), i);
        if (a->value.IsObject() || a->value.IsArray()) stack.push_back(&a->value);
      }
      std::sort(sorted.begin(), sorted.end());
      std::uint32_t best = UINT32_MAX;  // the first occurrence of the earliest repeated name
      std::string_view best_name;
      for (std::size_t k = 0, j; k < sorted.size(); k = j) {
        for (j = k + 1; j < sorted.size() && sorted[j].first == sorted[k].first; ++j) {
        }
        // A run of one name, its first occurrence first.
        if (j - k > 1 && sorted[k].second < best) {
          best = sorted[k].second;
          best_name = sorted[k].first;
        }
      }
      if (best != UINT32_MAX) {
        which.assign(best_name);
        return true;
      }
    } else if (cur->IsObject()) {
      std::uint64_t seen[2] = {0, 0};
      for (auto a = cur->MemberBegin(); a != cur->MemberEnd(); ++a) {
        const auto n = a->name.GetStringLength();
        const auto* name = reinterpret_cast<const unsigned char*>(a->name.GetString());
        const unsigned h = n ? (n * 31u + name[0] * 7u + name[n - 1]) & 127u : 0u;
        const std::uint64_t bit = std::uint64_t{1} << (h & 63u);
        if (seen[h >> 6] & bit) {
          for (auto b = cur->MemberBegin(); b != a; ++b)
            if (view(b->name) == view(a->name)) {
              which.assign(first_repeated(*cur));
              return true;
            }
        }
        seen[h >> 6] |= bit;
        if (a->value.IsObject() || a->value.IsArray()) stack.push_back(&a->value);
      }
    } else if (cur->IsArray()) {
      for (const auto& el : cur->GetArray())
        if (el.IsObject() || el.IsArray()) stack.push_back(&el);
    }
  }
  return false;
}

}  // namespace

LineDocument::LineDocument() : buffer_(new char[kBytes]), pool_(buffer_.get(), kBytes), doc_(&pool_) {}

namespace {

// parse() and parse_line(): `copy` is the buffer the text is parsed in (in place); `copy_strings` false
// leaves the Document's strings there.
bool parse_text(std::string_view text, Document& doc, ParseError& err, const Limits& limits,
                std::vector<char>& copy, bool copy_strings) {
  // A Document reused line after line must not keep every earlier line's values: its pool allocator only
  // frees on Clear(), so without this the memory of a whole NDJSON file would pile up.
  doc.SetNull();
  doc.GetAllocator().Clear();
  // RFC 8259 forbids a byte-order mark in JSON sent between systems; RELIABILITY D1 asks for a clean
  // rejection.
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF) {
    err = ParseError{1, 1, "byte-order mark (EF BB BF) before the JSON text"};
    return false;
  }
  const char* why = "";  // a NUL byte, another control character, or ill-formed UTF-8
  if (const std::size_t bad = invalid_byte_at(text, why); bad != std::string_view::npos) {
    locate(text, bad, err);
    err.message = why;
    return false;
  }
  // The reader parses a NUL-terminated copy (the text has no NUL of its own, checked above) in place: strings
  // are unescaped where they stand instead of being copied to the reader's stack (and from there into the
  // Document, or not: copy_strings). 16 bytes to spare after the NUL for the 16-byte loads that find the end
  // of a string (RapidJSON's after aligning, ParseString's above from any byte).
  if (copy.size() < text.size() + 32) copy.resize(text.size() + 32);
  std::memcpy(copy.data(), text.data(), text.size());
  copy[text.size()] = '\0';
  rapidjson::InsituStringStream ss(copy.data());
  // One reader per thread: its stack keeps its capacity from line to line.
  thread_local rapidjson::Reader reader;
  TextRouter router(doc, limits, copy_strings);
  if (!reader.Parse<kTextFlags>(ss, router)) {
    locate(text, reader.GetErrorOffset(), err);
    err.message = reader_message(reader, router);
    discard(doc);
    return false;
  }
  finish(doc);
  std::string dup;
  if (find_duplicate_key(doc, dup)) {
    err = ParseError{1, 1, "duplicate member name \"" + dup + "\""};
    doc.SetNull();
    return false;
  }
  return true;
}

}  // namespace

bool parse(std::string_view text, Document& doc, ParseError& err, const Limits& limits) {
  thread_local std::vector<char> copy;
  return parse_text(text, doc, err, limits, copy, true);
}

bool parse_line(std::string_view text, Document& doc, ParseError& err, const Limits& limits) {
  thread_local std::vector<char> copy;  // not parse()'s: a parse() in between leaves these strings alone
  return parse_text(text, doc, err, limits, copy, false);
}

bool stream_object_file(std::FILE* file, Document& root, const StreamCallbacks& cb, ParseError& err,
                        const Limits& limits) {
  root.SetNull();
  unsigned char bom[3];
  std::size_t got = std::fread(bom, 1, 3, file);
  if (got == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF) {
    err = ParseError{1, 1, "byte-order mark (EF BB BF) before the JSON text"};
    return false;
  }
  std::rewind(file);
  const long start = std::ftell(file);
  std::vector<char> buf(1 << 16);
  rapidjson::FileReadStream fs(file, buf.data(), buf.size());
  rapidjson::Reader reader;
  StreamCallbacks checked = cb;
  checked.on_entry = [&](std::size_t i, Document& entry) {
    std::string dup;
    if (find_duplicate_key(entry, dup)) {
      if (cb.on_skipped) cb.on_skipped(i, "duplicate member name \"" + dup + "\"");
      return;
    }
    if (cb.on_entry) cb.on_entry(i, entry);
  };
  Router router(root, limits, &checked);
  bool ok = reader.Parse<kFlags>(fs, router);
  std::size_t offset = ok ? fs.Tell() : reader.GetErrorOffset();
  if (ok) {
    // FileReadStream reports NUL as end of input; anything left unread means the text did not end there.
    int c = std::fgetc(file);
    if (c != EOF) {
      ok = false;
      router.abort_reason = "NUL byte or trailing data after the JSON value";
    }
  }
  if (!ok) {
    err.message = reader_message(reader, router);
    // Count lines up to the error offset by reading the prefix again.
    std::fseek(file, start, SEEK_SET);
    err.line = 1;
    err.column = 1;
    for (std::size_t i = 0; i < offset; ++i) {
      int c = std::fgetc(file);
      if (c == EOF) break;
      if (c == '\n') {
        ++err.line;
        err.column = 1;
      } else {
        ++err.column;
      }
    }
    discard(root);
    return false;
  }
  finish(root);
  if (!root.IsObject()) {
    err = ParseError{1, 1, "the root of a FHIR JSON file must be an object"};
    root.SetNull();
    return false;
  }
  std::string dup;
  if (find_duplicate_key(root, dup)) {
    err = ParseError{1, 1, "duplicate member name \"" + dup + "\""};
    root.SetNull();
    return false;
  }
  return true;
}

const Value* member(const Value& obj, std::string_view key) {
  if (!obj.IsObject()) return nullptr;
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    if (it->name.GetStringLength() != key.size()) continue;
    const char* name = it->name.GetString();
    // The first byte rules out most names of the same length without a call to memcmp.
    if (!key.empty() && name[0] != key[0]) continue;
    if (std::memcmp(name, key.data(), key.size()) == 0) return &it->value;
  }
  return nullptr;
}
const Value* member(const Value* obj, std::string_view key) {
  return obj ? member(*obj, key) : nullptr;
}
bool is_object(const Value* v) {
  return v && v->IsObject();
}
bool is_array(const Value* v) {
  return v && v->IsArray();
}

std::optional<std::string_view> string(const Value* v) {
  if (!v || !v->IsString()) return std::nullopt;
  std::string_view s(v->GetString(), v->GetStringLength());
  if (!s.empty() && s[0] == kNumberMark) return std::nullopt;
  return s;
}

std::optional<std::string_view> number_text(const Value* v) {
  if (!v || !v->IsString()) return std::nullopt;
  std::string_view s(v->GetString(), v->GetStringLength());
  if (s.empty() || s[0] != kNumberMark) return std::nullopt;
  return s.substr(1);
}

std::optional<bool> boolean(const Value* v) {
  if (!v || !v->IsBool()) return std::nullopt;
  return v->GetBool();
}

struct Writer::Impl {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
};

Writer::Writer() : impl_(std::make_unique<Impl>()) {}
Writer::~Writer() = default;
Writer& Writer::begin_object() {
  impl_->w.StartObject();
  return *this;
}
Writer& Writer::end_object() {
  impl_->w.EndObject();
  return *this;
}
Writer& Writer::begin_array() {
  impl_->w.StartArray();
  return *this;
}
Writer& Writer::end_array() {
  impl_->w.EndArray();
  return *this;
}
namespace {

// RapidJSON 1.1.0's SSE2 string writer (Writer<StringBuffer>::ScanWriteUnescapedString, the one used here)
// tests "below 0x20" as "at most 0x19": U+001A-U+001F inside a 16-byte block of a string were written raw,
// which is not JSON (RFC 8259 wants every control character escaped; parse() refuses them), so an output
// could hold a line no reader takes, depending on where the character fell. A string with one of them is
// escaped here instead, as the library escapes (\u00XX, upper-case hex) and written whole.
bool has_unescaped_gap(std::string_view s) {
  auto in_gap = [](char c) {
    return static_cast<unsigned char>(c) >= 0x1A && static_cast<unsigned char>(c) <= 0x1F;
  };
  // Every string written passes here. The library writes strings shorter than 16 bytes byte by byte, which
  // escapes them right; longer ones are looked at 8 bytes at a time while none is below 0x20 (the test of
  // invalid_byte_at), byte by byte only in a word that has one.
  if (s.size() < 16) return false;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if (((word - 0x2020202020202020ull) & ~word & 0x8080808080808080ull) == 0) continue;
    for (std::size_t j = i; j < i + 8; ++j)
      if (in_gap(s[j])) return true;
  }
  for (; i < s.size(); ++i)
    if (in_gap(s[i])) return true;
  return false;
}

std::string quoted(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + 8);
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xF];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace

Writer& Writer::key(std::string_view k) {
  if (has_unescaped_gap(k)) {
    const std::string q = quoted(k);
    impl_->w.RawValue(q.data(), q.size(), rapidjson::kStringType);  // in a key's place: written as one
    return *this;
  }
  impl_->w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()), true);
  return *this;
}
Writer& Writer::str(std::string_view s) {
  if (has_unescaped_gap(s)) {
    const std::string q = quoted(s);
    impl_->w.RawValue(q.data(), q.size(), rapidjson::kStringType);
    return *this;
  }
  impl_->w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()), true);
  return *this;
}
Writer& Writer::raw_number(std::string_view d) {
  impl_->w.RawValue(d.data(), d.size(), rapidjson::kNumberType);
  return *this;
}
Writer& Writer::raw_value(std::string_view json) {
  // RapidJSON's RawValue copies byte by byte: let it write the separator before an empty value, then append
  // the text in one copy.
  impl_->w.RawValue("", 0, rapidjson::kObjectType);
  std::memcpy(impl_->buf.Push(json.size()), json.data(), json.size());
  return *this;
}
Writer& Writer::integer(long long v) {
  impl_->w.Int64(v);
  return *this;
}
Writer& Writer::real(double v) {
  impl_->w.Double(v);
  return *this;
}
Writer& Writer::boolean(bool v) {
  impl_->w.Bool(v);
  return *this;
}
Writer& Writer::null() {
  impl_->w.Null();
  return *this;
}
Writer& Writer::field(std::string_view k, std::string_view s) {
  if (!s.empty()) key(k).str(s);
  return *this;
}
Writer& Writer::value(const Value& v) {
  // Depth is bounded by the parse limits, so recursion here is shallow.
  if (auto n = number_text(&v)) return raw_number(*n);
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return null();
    case rapidjson::kFalseType:
      return boolean(false);
    case rapidjson::kTrueType:
      return boolean(true);
    case rapidjson::kStringType:
      return str(std::string_view(v.GetString(), v.GetStringLength()));
    case rapidjson::kObjectType:
      begin_object();
      for (auto it = v.MemberBegin(); it != v.MemberEnd(); ++it) {
        key(std::string_view(it->name.GetString(), it->name.GetStringLength()));
        value(it->value);
      }
      return end_object();
    case rapidjson::kArrayType:
      begin_array();
      for (const auto& el : v.GetArray()) value(el);
      return end_array();
    case rapidjson::kNumberType:
      return real(v.GetDouble());
  }
  return *this;
}
std::string_view Writer::view() const {
  return {impl_->buf.GetString(), impl_->buf.GetSize()};
}
void Writer::clear() {
  impl_->buf.Clear();
  impl_->w.Reset(impl_->buf);
}

std::string serialize(const Value& v) {
  Writer w;
  w.value(v);
  return std::string(w.view());
}

}  // namespace cf::json
