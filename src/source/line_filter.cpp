#include "source/line_filter.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>

#include "core/cpu.hpp"
#include "json/raw_member.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CF_FILTER_AVX2 1
#endif

namespace cf::source {

namespace {

std::size_t find(std::string_view hay, std::string_view needle, std::size_t from = 0) {
  if (from >= hay.size()) return std::string_view::npos;
  const void* p = ::memmem(hay.data() + from, hay.size() - from, needle.data(), needle.size());
  return p ? static_cast<std::size_t>(static_cast<const char*>(p) - hay.data()) : std::string_view::npos;
}

enum class Value { not_string, plain, escaped };

// The value after `"key"` `:` starting at `pos` (just past the key): a plain string (in `out`), a string with
// an escape in it, or something else (an object, a number, broken JSON).
Value string_value_after(std::string_view s, std::size_t pos, std::string_view& out) {
  // JSON whitespace: a '\r' inside a line (only a trailing one is cut) must not hide a value.
  using json::is_space;
  while (pos < s.size() && is_space(s[pos])) ++pos;
  if (pos >= s.size() || s[pos] != ':') return Value::not_string;
  ++pos;
  while (pos < s.size() && is_space(s[pos])) ++pos;
  if (pos >= s.size() || s[pos] != '"') return Value::not_string;
  // The value ends at the first quote, unless a backslash comes first (then it has an escape). Values are
  // short: one 16-byte compare usually finds it, where two memchr calls cost more than the value is long.
  const std::size_t start = pos + 1;
  const char* const d = s.data();
  const std::size_t n = s.size();
  std::size_t i = start;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(d + i));
    const auto m = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash))));
    if (m) {
      i += static_cast<unsigned>(__builtin_ctz(m));
      break;
    }
  }
#endif
  while (i < n && d[i] != '"' && d[i] != '\\') ++i;
  if (i >= n || d[i] == '\\') return Value::escaped;  // an escape, or unterminated: let the parser decide
  out = s.substr(start, i - start);
  return Value::plain;
}

bool in_range(std::string_view code, const std::pair<std::string, std::string>& r) {
  const auto& [lo, hi] = r;
  return code.size() >= lo.size() && code.substr(0, lo.size()) >= lo && code.substr(0, hi.size()) <= hi;
}

bool dotted(std::string_view code) {
  return code.size() > 3 && code[3] == '.';
}

// A quick hash of a short string from its first and last bytes and its length (codes differing only in their
// middle bytes collide, which costs a set lookup, never a wrong answer).
std::uint64_t quick_hash(std::string_view s) {
  std::uint64_t a = 0, b = 0;
  const std::size_t n = s.size();
  if (n >= 8) {
    std::memcpy(&a, s.data(), 8);
    std::memcpy(&b, s.data() + n - 8, 8);
  } else if (n >= 4) {
    std::uint32_t x = 0, y = 0;
    std::memcpy(&x, s.data(), 4);
    std::memcpy(&y, s.data() + n - 4, 4);
    a = x;
    b = y;
  } else if (n > 0) {
    a = static_cast<unsigned char>(s[0]) |
        static_cast<std::uint64_t>(static_cast<unsigned char>(s[n / 2])) << 8 |
        static_cast<std::uint64_t>(static_cast<unsigned char>(s[n - 1])) << 16;
  }
  std::uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ n) * 0xFF51AFD7ED558CCDULL;
  return h ^ (h >> 29);
}

// 8 KB per screen: few false positives for the thousand or so codes of a screen.
constexpr std::size_t kCodeBits = std::size_t{1} << 16;

bool may_hold(const std::vector<std::uint64_t>& bits, std::string_view code) {
  const std::uint64_t h = quick_hash(code) & (kCodeBits - 1);
  return (bits[h >> 6] >> (h & 63)) & 1;
}

#if defined(CF_FILTER_AVX2)
// The filter's main loop 32 bytes at a time, where the processor has AVX2 (checked at run time; the build
// targets plain x86-64): the positions of '"' followed by 'c', 'd' or 't', each handed to `relevant_at`.
// Advances `i` past the blocks it looked at; true as soon as one position is relevant.

template <class F>
__attribute__((target("avx2"))) bool scan_avx2(const char* begin, std::size_t& i, std::size_t n,
                                               F& relevant_at) {
  const __m256i quote = _mm256_set1_epi8('"'), c = _mm256_set1_epi8('c'), d = _mm256_set1_epi8('d'),
                t = _mm256_set1_epi8('t');
  for (; i + 33 <= n; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(begin + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(begin + i + 1));
    const __m256i next = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(b, c), _mm256_cmpeq_epi8(b, d)),
                                         _mm256_cmpeq_epi8(b, t));
    auto mask =
        static_cast<unsigned>(_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, quote), next)));
    while (mask) {
      const unsigned bit = static_cast<unsigned>(__builtin_ctz(mask));
      if (relevant_at(i + bit)) return true;
      mask &= mask - 1;
    }
  }
  return false;
}
#endif

}  // namespace

LineFilter::LineFilter(LineFilterConfig c) : c_(std::move(c)) {
  static std::atomic<std::uint64_t> next_id{1};
  id_ = next_id++;
  for (auto& [type, s] : c_.screens) {
    s.id = next_id++;
    s.try_dotted = std::any_of(s.codes.begin(), s.codes.end(), dotted) ||
                   std::any_of(s.ranges.begin(), s.ranges.end(),
                               [](const auto& r) { return dotted(r.first) || dotted(r.second); });
    s.code_bits.assign(kCodeBits / 64, 0);
    for (const auto& code : s.codes) {
      const std::uint64_t h = quick_hash(code) & (kCodeBits - 1);
      s.code_bits[h >> 6] |= std::uint64_t{1} << (h & 63);
    }
    s.range_first.fill(false);
    for (const auto& [lo, hi] : s.ranges) {
      if (lo.empty() || hi.empty()) {  // an empty bound admits any first byte
        s.range_first.fill(true);
        break;
      }
      for (unsigned b = static_cast<unsigned char>(lo[0]); b <= static_cast<unsigned char>(hi[0]); ++b)
        s.range_first[b] = true;
    }
    s.texts_by_first.clear();
    if (!s.texts.empty()) s.texts_by_first.resize(256);
    for (std::size_t i = 0; i < s.texts.size(); ++i)
      if (!s.texts[i].empty()) s.texts_by_first[static_cast<unsigned char>(s.texts[i][0])].push_back(i);
  }
}

// The terminology inserts the dot into ICD-10 codes sent without it ("M329" -> "M32.9") before matching;
// the screen does not know the code's system, so it tries both forms for every code.
bool LineFilter::code_matches(const CodeScreen& s, std::string_view code) {
  char buf[64];
  std::string_view dotted;
  if (s.try_dotted && code.size() > 3 && code.size() < sizeof buf &&
      code.find('.') == std::string_view::npos) {
    std::memcpy(buf, code.data(), 3);
    buf[3] = '.';
    std::memcpy(buf + 4, code.data() + 3, code.size() - 3);
    dotted = std::string_view(buf, code.size() + 1);
  }
  // ... and cuts an ICD-10 code with more after its fourth character (China's national extension "M32.900",
  // a dagger or asterisk mark "M32.1+") to its WHO form: tried for every such code, whatever its system.
  if (dotted.empty() && s.try_dotted && code.size() > 5 && code[3] == '.' && code[4] >= '0' &&
      code[4] <= '9' && code[0] >= 'A' && code[0] <= 'Z')
    dotted = code.substr(0, 5);
  if ((may_hold(s.code_bits, code) && s.codes.count(code)) ||
      (!dotted.empty() && may_hold(s.code_bits, dotted) && s.codes.count(dotted)))
    return true;
  // The dotted form starts with the code's own first byte.
  if (!code.empty() && !s.range_first[static_cast<unsigned char>(code[0])]) return false;
  for (const auto& r : s.ranges)
    if (in_range(code, r) || (!dotted.empty() && in_range(dotted, r))) return true;
  return false;
}

// The same few displays ("Laboratory", a test's LOINC name) come back on line after line: each thread
// remembers the answers for the screen it used last, in a direct-mapped table (a slot per hash, the text kept
// in the slot): one compare per lookup, no node to chase, no allocation. Longer texts and texts whose slot
// another took are scanned again, which is never wrong.
bool LineFilter::text_matches(const CodeScreen& s, std::string_view v) {
  if (s.texts_by_first.empty()) return false;
  struct Slot {
    std::uint64_t hash = 0;
    std::uint8_t size = 0;
    bool used = false, found = false;
    char text[117];
  };
  static_assert(sizeof(Slot) == 128);
  constexpr std::size_t kSlots = 1024;
  struct Seen {
    std::uint64_t screen = 0;
    std::unique_ptr<Slot[]> slots = std::make_unique<Slot[]>(kSlots);
  };
  thread_local Seen seen;
  if (seen.screen != s.id) {
    for (std::size_t i = 0; i < kSlots; ++i) seen.slots[i].used = false;
    seen.screen = s.id;
  }
  if (v.size() > sizeof(Slot::text)) return scan_texts(s, v);
  const std::uint64_t h = quick_hash(v);
  Slot& slot = seen.slots[h & (kSlots - 1)];
  if (slot.used && slot.hash == h && slot.size == v.size() && std::memcmp(slot.text, v.data(), v.size()) == 0)
    return slot.found;
  const bool found = scan_texts(s, v);
  slot.hash = h;
  slot.size = static_cast<std::uint8_t>(v.size());
  slot.used = true;
  slot.found = found;
  std::memcpy(slot.text, v.data(), v.size());
  return found;
}

// Case-folds as it goes and, at each byte, tries only the patterns that start with it: one pass over the
// value instead of one search per pattern.
bool LineFilter::scan_texts(const CodeScreen& s, std::string_view v) {
  auto lower = [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch; };
  for (std::size_t i = 0; i < v.size(); ++i) {
    for (const std::size_t k : s.texts_by_first[static_cast<unsigned char>(lower(v[i]))]) {
      const std::string& text = s.texts[k];
      if (text.size() > v.size() - i) continue;
      std::size_t j = 1;
      while (j < text.size() && lower(v[i + j]) == text[j]) ++j;
      if (j == text.size()) return true;
    }
  }
  return false;
}

// Bulk NDJSON nearly always starts with the resourceType. Then a single pass can visit just the strings that
// start with 'c', 'd' or 't' (the keys "code", "display" and "text") instead of searching the line for each
// key in turn. Escapes other than \u cannot spell those keys, so a line with backslashes (a narrative div
// with its \" quotes, say) takes the same pass: a '"' after a backslash may then look like the start of a
// key, which can only make a line parsed, never skipped, and a value with an escape in it is always parsed.
// Anything else (another first key, a \u escape anywhere) takes check_escaped().
namespace {

// A line cut short (a truncated file, a partial write) seldom ends as an object does: such a line is parsed,
// so that the parser reports it, instead of being dropped unseen because its code never came.
bool ends_as_object(std::string_view line) {
  while (!line.empty() && json::is_space(line.back())) line.remove_suffix(1);
  return !line.empty() && line.back() == '}';
}

}  // namespace

LineFilter::Verdict LineFilter::check(std::string_view line, std::string_view& type) const {
  static constexpr std::string_view kPrefix = "{\"resourceType\":\"";
  if (line.substr(0, kPrefix.size()) != kPrefix) return check_escaped(line, type);
  // A \u escape anywhere sends the line to check_escaped(): step from backslash to backslash.
  const char* const end = line.data() + line.size();
  for (auto* b = static_cast<const char*>(std::memchr(line.data(), '\\', line.size())); b;
       b = b + 2 < end
               ? static_cast<const char*>(std::memchr(b + 2, '\\', static_cast<std::size_t>(end - b - 2)))
               : nullptr)
    if (b + 1 < end && b[1] == 'u') return check_escaped(line, type);
  const std::size_t type_end = line.find('"', kPrefix.size());
  if (type_end == std::string_view::npos) return Verdict::parse;
  type = line.substr(kPrefix.size(), type_end - kPrefix.size());
  if (type.find('\\') != std::string_view::npos) return check_escaped(line, type);
  // The lines of a file are nearly all of one type: each thread remembers the last type's lookups (two
  // hashes of the type per line otherwise).
  struct Last {
    std::uint64_t filter = 0;  // LineFilter::id_: a filter made where an earlier one stood has another
    std::string type;
    bool read = false;
    const CodeScreen* screen = nullptr;
  };
  thread_local Last last;
  if (last.filter != id_ || last.type != type) {
    last.filter = 0;  // until the entry below is whole
    last.type.assign(type);
    last.read = c_.read_types.count(type) > 0;
    const auto it = c_.screens.find(type);
    last.screen = it == c_.screens.end() ? nullptr : &it->second;
    last.filter = id_;
  }
  if (!last.read) return Verdict::other_type;
  if (!ends_as_object(line)) return Verdict::parse;
  if (!last.screen) return Verdict::parse;
  const CodeScreen& screen = *last.screen;
  for (const auto& k : screen.parse_if_key)
    if (find(line, k) != std::string_view::npos) return Verdict::parse;

  const char* const begin = line.data();
  const std::size_t n = line.size();
  // Looks at the string opening at `at` (a '"'): a key we care about, and its value.
  // (Fixed-size memcmp calls compile to plain loads: this runs for every "c/"d/"t string of every line.)
  auto has = [&](std::size_t at, const char(&lit)[6]) {
    return at + 5 <= n && std::memcmp(begin + at, lit, 5) == 0;
  };
  auto relevant_at = [&](std::size_t at) {
    std::string_view v;
    std::size_t key_len = 0;
    switch (begin[at + 1]) {
      case 'c': {
        if (!has(at + 1, "code\"")) return false;
        const Value kind = string_value_after(line, at + 6, v);
        return kind == Value::escaped || (kind == Value::plain && code_matches(screen, v));
      }
      case 'd':
        key_len = at + 9 <= n && std::memcmp(begin + at + 1, "display\"", 8) == 0 ? 9 : 0;
        break;
      default:
        key_len = has(at + 1, "text\"") ? 6 : 0;
    }
    if (key_len == 0 || screen.texts.empty()) return false;
    const Value kind = string_value_after(line, at + key_len, v);
    return kind == Value::escaped || (kind == Value::plain && text_matches(screen, v));
  };
  std::size_t i = type_end + 1;
#if defined(CF_FILTER_AVX2)
  if (cpu_has_avx2() && scan_avx2(begin, i, n, relevant_at)) return Verdict::parse;
#endif
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"'), c = _mm_set1_epi8('c'), d = _mm_set1_epi8('d'),
                t_ = _mm_set1_epi8('t');
  for (; i + 17 <= n; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(begin + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(begin + i + 1));
    const __m128i next =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, c), _mm_cmpeq_epi8(b, d)), _mm_cmpeq_epi8(b, t_));
    auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, quote), next)));
    while (mask) {
      const unsigned bit = static_cast<unsigned>(__builtin_ctz(mask));
      if (relevant_at(i + bit)) return Verdict::parse;
      mask &= mask - 1;
    }
  }
#endif
  for (; i + 1 < n; ++i)
    if (begin[i] == '"' && (begin[i + 1] == 'c' || begin[i + 1] == 'd' || begin[i + 1] == 't') &&
        relevant_at(i))
      return Verdict::parse;
  return nothing_found(screen, line);
}

LineFilter::Verdict LineFilter::nothing_found(const CodeScreen& s, std::string_view line) {
  return !s.skip_unmatched || s.skip_unmatched(line) ? Verdict::irrelevant : Verdict::parse;
}

LineFilter::Verdict LineFilter::check_escaped(std::string_view line, std::string_view& type) const {
  static constexpr std::string_view kType = "\"resourceType\"";
  const std::size_t at = find(line, kType);
  if (at == std::string_view::npos) return Verdict::parse;  // let the parser report it
  if (find(line, kType, at + kType.size()) != std::string_view::npos)
    return Verdict::parse;  // contained resources
  std::string_view t;
  if (string_value_after(line, at + kType.size(), t) != Value::plain) return Verdict::parse;
  type = t;
  if (!c_.read_types.count(t)) return Verdict::other_type;
  if (!ends_as_object(line)) return Verdict::parse;
  const auto screen_it = c_.screens.find(t);
  if (screen_it == c_.screens.end()) return Verdict::parse;
  const CodeScreen& screen = screen_it->second;
  if (find(line, "\\u") != std::string_view::npos)
    return Verdict::parse;  // escaped text could hide a code, a pattern or a key
  for (const auto& k : screen.parse_if_key)
    if (find(line, k) != std::string_view::npos) return Verdict::parse;
  static constexpr std::string_view kCode = "\"code\"";
  for (std::size_t pos = find(line, kCode); pos != std::string_view::npos; pos = find(line, kCode, pos + 1)) {
    std::string_view v;
    const Value kind = string_value_after(line, pos + kCode.size(), v);
    if (kind == Value::escaped || (kind == Value::plain && code_matches(screen, v))) return Verdict::parse;
  }
  if (screen.texts.empty()) return nothing_found(screen, line);
  // Text patterns are matched (by the terminology) only against CodeableConcept.text and Coding.display, so
  // only the string values of "text" and "display" keys need looking at: far less than the whole line.
  for (std::string_view k : {std::string_view("\"display\""), std::string_view("\"text\"")}) {
    for (std::size_t pos = find(line, k); pos != std::string_view::npos; pos = find(line, k, pos + 1)) {
      std::string_view v;
      // An object (narrative text.div) is no text to match; an escaped string could hide a pattern.
      const Value kind = string_value_after(line, pos + k.size(), v);
      if (kind == Value::escaped || (kind == Value::plain && text_matches(screen, v))) return Verdict::parse;
    }
  }
  return nothing_found(screen, line);
}

}  // namespace cf::source
