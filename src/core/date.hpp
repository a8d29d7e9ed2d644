#pragma once
// Calendar dates as days since 1970-01-01, and FHIR date/dateTime/instant parsing with partial precision.
// Clinical dates keep the local calendar day as written ("2025-03-01T23:30:00+08:00" is 2025-03-01): that is
// the day the clinician saw, and windows such as "within 8 weeks" are counted in whole days.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cf {

using Days = std::int32_t;  // days since 1970-01-01

Days days_from_civil(int y, unsigned m, unsigned d);
void civil_from_days(Days z, int& y, unsigned& m, unsigned& d);
bool valid_civil(int y, unsigned m, unsigned d);
std::string format_day(Days d);  // YYYY-MM-DD

enum class DatePrecision { year, month, day };

// A FHIR date, possibly partial: it denotes every day in [first, last].
struct PartialDate {
  Days first = 0;
  Days last = 0;
  DatePrecision precision = DatePrecision::day;
  bool has_time = false;

  bool exact_day() const { return first == last; }
  bool operator==(const PartialDate&) const = default;
};

enum class DateKind { date, date_time, instant };

// Parses YYYY, YYYY-MM, YYYY-MM-DD and, for dateTime/instant, a time with seconds and a zone. Returns nullopt
// for malformed or impossible dates (2023-02-30); `why` says which.
std::optional<PartialDate> parse_fhir_date(std::string_view text, DateKind kind, std::string* why = nullptr);

// Strict YYYY-MM-DD, for command-line as-of dates.
std::optional<Days> parse_iso_day(std::string_view text);

// A FHIR instant (meta.lastUpdated) as a point in time that orders correctly: UTC seconds since 1970 and the
// fractional digits padded to 9 ("12:00:00.25+02:00" is 10:00:00.250000000 UTC). nullopt when `text` is not a
// full instant with seconds and a zone.
struct InstantKey {
  long long seconds = 0;
  std::uint32_t nanos = 0;
  auto operator<=>(const InstantKey&) const = default;
};
std::optional<InstantKey> parse_instant_key(std::string_view text);

// Completed years between a birth day and a day (the usual "age on the index date").
int completed_years(Days birth, Days on);

// A day + N calendar months / years (clamped to the month's end), used for "within 12 months" windows.
Days add_months(Days d, int months);

}  // namespace cf
