#include "transport/retry_after.hpp"

#include <array>
#include <cstdint>

#include "core/text.hpp"

namespace cf::transport {
namespace {

using std::chrono::system_clock;

constexpr std::array<std::string_view, 7> kDayNames = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDayNames = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                           "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonthNames = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A strict left-to-right reader over the date text. HTTP-date is case-sensitive and has fixed widths.
class Reader {
 public:
  explicit Reader(std::string_view s) : s_(s) {}
  bool literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }
  std::optional<int> digits(std::size_t n) {
    if (pos_ + n > s_.size()) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = s_[pos_ + i];
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos_ += n;
    return value;
  }
  template <std::size_t N>
  std::optional<int> name(const std::array<std::string_view, N>& names) {
    for (std::size_t i = 0; i < N; ++i)
      if (literal(names[i])) return static_cast<int>(i);
    return std::nullopt;
  }
  bool at_end() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

struct DateFields {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

bool read_time(Reader& r, DateFields& f) {
  auto h = r.digits(2);
  if (!h || !r.literal(":")) return false;
  auto m = r.digits(2);
  if (!m || !r.literal(":")) return false;
  auto s = r.digits(2);
  if (!s) return false;
  f.hour = *h;
  f.minute = *m;
  f.second = *s;
  return true;
}

bool read_month(Reader& r, DateFields& f) {
  auto m = r.name(kMonthNames);
  if (!m) return false;
  f.month = *m + 1;
  return true;
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<DateFields> imf_fixdate(std::string_view s) {
  Reader r(s);
  DateFields f;
  if (!r.name(kDayNames) || !r.literal(", ")) return std::nullopt;
  auto day = r.digits(2);
  if (!day || !r.literal(" ") || !read_month(r, f) || !r.literal(" ")) return std::nullopt;
  auto year = r.digits(4);
  if (!year || !r.literal(" ") || !read_time(r, f) || !r.literal(" GMT") || !r.at_end()) return std::nullopt;
  f.day = *day;
  f.year = *year;
  return f;
}

// Obsolete RFC 850 form: "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year more than 50 years ahead of `now`
// means the most recent past year with those digits (RFC 9110 section 5.6.7).
std::optional<DateFields> rfc850_date(std::string_view s, int current_year) {
  Reader r(s);
  DateFields f;
  if (!r.name(kLongDayNames) || !r.literal(", ")) return std::nullopt;
  auto day = r.digits(2);
  if (!day || !r.literal("-") || !read_month(r, f) || !r.literal("-")) return std::nullopt;
  auto yy = r.digits(2);
  if (!yy || !r.literal(" ") || !read_time(r, f) || !r.literal(" GMT") || !r.at_end()) return std::nullopt;
  f.day = *day;
  f.year = current_year / 100 * 100 + *yy;
  if (f.year > current_year + 50) f.year -= 100;
  return f;
}

// Obsolete asctime form: "Sun Nov  6 08:49:37 1994"
std::optional<DateFields> asctime_date(std::string_view s) {
  Reader r(s);
  DateFields f;
  if (!r.name(kDayNames) || !r.literal(" ") || !read_month(r, f) || !r.literal(" ")) return std::nullopt;
  std::optional<int> day = r.literal(" ") ? r.digits(1) : r.digits(2);
  if (!day || !r.literal(" ") || !read_time(r, f) || !r.literal(" ")) return std::nullopt;
  auto year = r.digits(4);
  if (!year || !r.at_end()) return std::nullopt;
  f.day = *day;
  f.year = *year;
  return f;
}

// Seconds since the epoch, or nullopt for impossible dates (Feb 30, 25:00).
std::optional<std::int64_t> to_epoch_seconds(const DateFields& f) {
  using namespace std::chrono;
  const year_month_day ymd{year{f.year}, month{static_cast<unsigned>(f.month)},
                           day{static_cast<unsigned>(f.day)}};
  if (!ymd.ok() || f.hour > 23 || f.minute > 59 || f.second > 60) return std::nullopt;  // 60: leap second
  const std::int64_t days = sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + f.hour * 3600 + f.minute * 60 + f.second;
}

int year_of(system_clock::time_point t) {
  using namespace std::chrono;
  return static_cast<int>(year_month_day{floor<days>(t)}.year());
}

}  // namespace

std::optional<system_clock::time_point> parse_http_date(std::string_view value,
                                                        system_clock::time_point now) {
  value = cf::trim(value);
  std::optional<DateFields> fields = imf_fixdate(value);
  if (!fields) fields = rfc850_date(value, year_of(now));
  if (!fields) fields = asctime_date(value);
  if (!fields) return std::nullopt;
  auto seconds = to_epoch_seconds(*fields);
  if (!seconds) return std::nullopt;
  // system_clock counts nanoseconds on common platforms (about +-292 years); keep far dates representable.
  constexpr std::int64_t kYear2200 = 7258118400;
  if (*seconds > kYear2200) *seconds = kYear2200;
  if (*seconds < 0) *seconds = 0;  // before 1970: long past either way
  return system_clock::time_point{
      std::chrono::duration_cast<system_clock::duration>(std::chrono::seconds{*seconds})};
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           system_clock::time_point now) {
  using std::chrono::milliseconds;
  value = cf::trim(value);
  if (value.empty()) return std::nullopt;
  bool digits_only = true;
  for (char c : value) digits_only = digits_only && c >= '0' && c <= '9';
  if (digits_only) {
    constexpr std::int64_t kMaxSeconds = 1'000'000'000'000'000;  // saturate; * 1000 still fits in int64
    std::int64_t seconds = 0;
    for (char c : value) {
      seconds = seconds * 10 + (c - '0');
      if (seconds > kMaxSeconds) {
        seconds = kMaxSeconds;
        break;
      }
    }
    return milliseconds{seconds * 1000};
  }
  auto date = parse_http_date(value, now);
  if (!date) return std::nullopt;
  if (*date <= now) return milliseconds{0};
  return std::chrono::duration_cast<milliseconds>(*date - now);
}

}  // namespace cf::transport
