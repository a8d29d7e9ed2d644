#include "core/date.hpp"

#include <cstdio>

namespace cf {

// Howard Hinnant's civil-date algorithms (public domain), exact for the proleptic Gregorian calendar.
Days days_from_civil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return static_cast<Days>(era * 146097 + static_cast<int>(doe) - 719468);
}

void civil_from_days(Days z0, int& y, unsigned& m, unsigned& d) {
  int z = z0 + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int yy = static_cast<int>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = yy + (m <= 2);
}

static bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

bool valid_civil(int y, unsigned m, unsigned d) {
  return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

std::string format_day(Days day) {
  int y;
  unsigned m, d;
  civil_from_days(day, y, m, d);
  char buf[40];  // sized for any int, so the compiler can prove no truncation
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool fail(std::string* why, const char* msg) {
  if (why) *why = msg;
  return false;
}

// hh:mm:ss(.fraction)(Z|+hh:mm|-hh:mm)
bool valid_time(std::string_view t, std::string* why) {
  int hh, mm, ss;
  if (!digits(t, 0, 2, hh) || t.size() < 8 || t[2] != ':' || !digits(t, 3, 2, mm) || t[5] != ':' ||
      !digits(t, 6, 2, ss))
    return fail(why, "time must be hh:mm:ss");
  if (hh > 23 || mm > 59 || ss > 60) return fail(why, "time out of range");
  std::size_t p = 8;
  if (p < t.size() && t[p] == '.') {
    ++p;
    const std::size_t start = p;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') ++p;
    if (p == start) return fail(why, "empty fraction of a second");
  }
  if (p == t.size()) return fail(why, "a time needs a zone (Z or +hh:mm)");
  if (t[p] == 'Z') return p + 1 == t.size() || fail(why, "text after the zone");
  if (t[p] != '+' && t[p] != '-') return fail(why, "bad zone");
  int zh, zm;
  if (t.size() != p + 6 || !digits(t, p + 1, 2, zh) || t[p + 3] != ':' || !digits(t, p + 4, 2, zm) ||
      zh > 14 || zm > 59)
    return fail(why, "bad zone offset");
  return true;
}

}  // namespace

std::optional<PartialDate> parse_fhir_date(std::string_view s, DateKind kind, std::string* why) {
  int y, m = 0, d = 0;
  if (!digits(s, 0, 4, y) || y < 1) {
    fail(why, "a date starts with a four-digit year");
    return std::nullopt;
  }
  PartialDate out;
  if (s.size() == 4) {
    if (kind == DateKind::instant) return fail(why, "an instant needs a full date and time"), std::nullopt;
    out.first = days_from_civil(y, 1, 1);
    out.last = days_from_civil(y, 12, 31);
    out.precision = DatePrecision::year;
    return out;
  }
  if (s.size() < 7 || s[4] != '-' || !digits(s, 5, 2, m) || m < 1 || m > 12) {
    fail(why, "month must be 01-12 after YYYY-");
    return std::nullopt;
  }
  if (s.size() == 7) {
    if (kind == DateKind::instant) return fail(why, "an instant needs a full date and time"), std::nullopt;
    out.first = days_from_civil(y, static_cast<unsigned>(m), 1);
    out.last = days_from_civil(y, static_cast<unsigned>(m), days_in_month(y, static_cast<unsigned>(m)));
    out.precision = DatePrecision::month;
    return out;
  }
  if (s.size() < 10 || s[7] != '-' || !digits(s, 8, 2, d)) {
    fail(why, "day must be two digits after YYYY-MM-");
    return std::nullopt;
  }
  if (!valid_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d))) {
    fail(why, "impossible calendar date");
    return std::nullopt;
  }
  out.first = out.last = days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  out.precision = DatePrecision::day;
  if (s.size() == 10) {
    if (kind == DateKind::instant)
      return fail(why, "an instant needs a time with seconds and a zone"), std::nullopt;
    return out;
  }
  if (kind == DateKind::date) {
    fail(why, "a date has no time part");
    return std::nullopt;
  }
  if (s[10] != 'T' || !valid_time(s.substr(11), why)) {
    if (why && why->empty()) *why = "expected T and a time";
    return std::nullopt;
  }
  out.has_time = true;
  return out;
}

std::optional<Days> parse_iso_day(std::string_view s) {
  auto p = parse_fhir_date(s, DateKind::date);
  if (!p || p->precision != DatePrecision::day) return std::nullopt;
  return p->first;
}

int completed_years(Days birth, Days on) {
  int by, oy;
  unsigned bm, bd, om, od;
  civil_from_days(birth, by, bm, bd);
  civil_from_days(on, oy, om, od);
  int age = oy - by;
  if (om < bm || (om == bm && od < bd)) --age;
  return age;
}

Days add_months(Days day, int months) {
  int y;
  unsigned m, d;
  civil_from_days(day, y, m, d);
  int total = y * 12 + static_cast<int>(m) - 1 + months;
  int ny = total / 12;
  unsigned nm = static_cast<unsigned>(total % 12) + 1;
  unsigned nd = d > days_in_month(ny, nm) ? days_in_month(ny, nm) : d;
  return days_from_civil(ny, nm, nd);
}

std::optional<InstantKey> parse_instant_key(std::string_view t) {
  auto d = parse_fhir_date(t, DateKind::instant);
  if (!d || !d->has_time || t.size() < 20) return std::nullopt;
  auto two = [&](std::size_t i) { return (t[i] - '0') * 10 + (t[i + 1] - '0'); };
  // parse_fhir_date has checked the shape: YYYY-MM-DDThh:mm:ss[.f+](Z|+hh:mm|-hh:mm).
  const long long hh = two(11), mm = two(14), ss = two(17);
  std::size_t i = 19;
  std::uint32_t nanos = 0;
  int digits = 0;
  if (i < t.size() && t[i] == '.') {
    for (++i; i < t.size() && t[i] >= '0' && t[i] <= '9'; ++i)
      if (digits < 9) {
        nanos = nanos * 10 + static_cast<std::uint32_t>(t[i] - '0');
        ++digits;
      }
  }
  for (; digits < 9; ++digits) nanos *= 10;
  long long offset = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
    if (i + 6 > t.size()) return std::nullopt;
    offset = (t[i] == '-' ? -1 : 1) * (two(i + 1) * 3600LL + two(i + 4) * 60LL);
  } else if (i >= t.size() || t[i] != 'Z') {
    return std::nullopt;
  }
  return InstantKey{static_cast<long long>(d->first) * 86400 + hh * 3600 + mm * 60 + ss - offset, nanos};
}

}  // namespace cf
