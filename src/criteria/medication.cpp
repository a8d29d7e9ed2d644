#include "criteria/medication.hpp"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/text.hpp"

namespace cf::criteria {

namespace {

// Whole days in a boundsDuration (UCUM's units of time and their spelled-out names; a month is UCUM's mean
// Julian month, 30.4375 days), rounded up: a dose for 36 hours is still being taken on the second day.
// Capped at 200 years, past any as-of date a run can have, so that a hostile value cannot overflow a date;
// nullopt for a negative value or a unit that is not a time.
std::optional<Days> duration_days(const fhir::Quantity& q) {
  const std::string& unit = q.code.empty() ? q.unit : q.code;
  static const std::map<std::string, std::pair<long, long>, std::less<>> kDaysPer = {
      // unit -> days as a fraction (numerator, denominator)
      {"s", {1, 86400}},     {"min", {1, 1440}},     {"h", {1, 24}},    {"hour", {1, 24}},
      {"hours", {1, 24}},    {"d", {1, 1}},          {"day", {1, 1}},   {"days", {1, 1}},
      {"wk", {7, 1}},        {"week", {7, 1}},       {"weeks", {7, 1}}, {"mo", {1461, 48}},
      {"month", {1461, 48}}, {"months", {1461, 48}}, {"a", {1461, 4}},  {"year", {1461, 4}},
      {"years", {1461, 4}}};
  const auto it = kDaysPer.find(unit);
  if (it == kDaysPer.end() || !q.value || q.value->negative()) return std::nullopt;
  constexpr long double kCap = 200 * 365.25L;
  const long double days = std::min(kCap, q.value->to_long_double() * it->second.first / it->second.second);
  return static_cast<Days>(std::ceil(days));
}

}  // namespace

UseSpan span_of(const fhir::MedicationUse& u, Days as_of) {
  UseSpan s;
  using T = fhir::ResourceType;
  const std::string& st = u.status;
  bool active_like = false;
  switch (u.h.type) {
    case T::medication_request:
      s.counts = st == "active" || st == "completed" || st == "on-hold" || st == "stopped" || st.empty();
      active_like = st == "active" || st == "on-hold";
      if (u.intent == "proposal") s.counts = false;
      break;
    case T::medication_statement:
      s.counts = st == "active" || st == "completed" || st == "stopped" || st == "on-hold" || st.empty();
      active_like = st == "active" || st == "on-hold";
      break;
    case T::medication_administration:
      s.counts = st == "completed" || st == "in-progress" || st.empty();
      break;
    default:
      break;
  }
  if (!s.counts) {
    s.why = "status '" + st + "'" + (u.intent.empty() ? "" : ", intent '" + u.intent + "'") + " is not a use";
    return s;
  }
  // Start: dosage bounds, then validity/effective period, then authoredOn/dateAsserted.
  for (const auto& d : u.dosages)
    if (!s.start && d.timing.bounds_start) s.start = d.timing.bounds_start->first;
  if (!s.start && u.start) s.start = u.start->first;
  if (!s.start && u.authored) s.start = u.authored->first;
  for (const auto& d : u.dosages) {
    if (!s.end && d.timing.bounds_end) s.end = d.timing.bounds_end->last;
    if (!s.end && d.timing.bounds_duration && d.timing.bounds_duration->value && s.start)
      if (const auto days = duration_days(*d.timing.bounds_duration))
        s.end = *s.start + std::max<Days>(*days - 1, 0);  // the start day is the first day
  }
  if (!s.end && u.end) s.end = u.end->last;
  if (!s.start) {
    s.counts = false;
    s.why = "no start date (authoredOn, effective, validity or dosage bounds)";
    return s;
  }
  if (!s.end) {
    if (active_like) {
      s.ongoing = true;
      s.end = as_of;
    } else {
      s.end = s.start;  // a completed order with no end: only its own day is known
    }
  }
  return s;
}

bool oral_or_unspecified(const fhir::MedicationUse& u) {
  for (const auto& d : u.dosages) {
    if (d.route.empty()) continue;
    for (const auto& c : d.route.codings)
      if (c.code == "26643006" || iequals_ascii(c.code, "PO") || iequals_ascii(c.code, "oral")) return true;
    std::string text = to_lower_ascii(d.route.text);
    if (text.find("oral") != std::string::npos || text.find("mouth") != std::string::npos ||
        text.find("口服") != std::string::npos)
      return true;
    for (const auto& c : d.route.codings)
      if (to_lower_ascii(c.display).find("oral") != std::string::npos) return true;
    return false;
  }
  return true;
}

namespace {

// A dosing frequency, exactly: `per` doses every `days` days.
struct PerDay {
  Decimal per, days;
};

std::optional<PerDay> per_day(const fhir::Timing& t, std::string& how) {
  static const struct {
    const char* code;
    int per, days;
  } kCodes[] = {{"QD", 1, 1},  {"AM", 1, 1},  {"PM", 1, 1},  {"HS", 1, 1},  {"BID", 2, 1}, {"TID", 3, 1},
                {"QID", 4, 1}, {"QOD", 1, 2}, {"Q4H", 6, 1}, {"Q6H", 4, 1}, {"Q8H", 3, 1}, {"Q12H", 2, 1}};
  if (t.frequency || t.period) {
    const Decimal f = t.frequency ? *t.frequency : Decimal::from_int(1);
    const Decimal p = t.period ? *t.period : Decimal::from_int(1);
    if (p <= Decimal()) {
      how = "timing period is not positive";
      return std::nullopt;
    }
    const std::string& u = t.period_unit;
    if (u != "d" && u != "h" && u != "min" && u != "wk" && u != "mo") {
      how = "timing period unit '" + u + "' not understood";
      return std::nullopt;
    }
    // f doses every p units: an hour or a minute scales the doses (24 or 1440 units a day), a week or a month
    // the days (7 or 30 days a unit).
    const int scale_per = u == "h" ? 24 : u == "min" ? 1440 : 1;
    const int scale_days = u == "wk" ? 7 : u == "mo" ? 30 : 1;
    auto per = f.times(Decimal::from_int(scale_per));
    auto days = p.times(Decimal::from_int(scale_days));
    if (!per || !days) {
      how = "dosing frequency too large to compute";
      return std::nullopt;
    }
    how = f.rounded_text(2) + " per " + p.rounded_text(2) + " " + u;
    return PerDay{*per, *days};
  }
  for (const auto& c : kCodes)
    if (iequals_ascii(t.code, c.code)) {
      how = t.code;
      return PerDay{Decimal::from_int(c.per), Decimal::from_int(c.days)};
    }
  how = "no dosing frequency";
  return std::nullopt;
}

}  // namespace

std::optional<Decimal> daily_mg(const terminology::MedicationFact& f, Days day, std::string& how) {
  const auto& u = *f.use;
  const fhir::Dosage* dose = nullptr;
  for (const auto& d : u.dosages) {
    bool covers = (!d.timing.bounds_start || d.timing.bounds_start->first <= day) &&
                  (!d.timing.bounds_end || d.timing.bounds_end->last >= day);
    if (covers) {
      dose = &d;
      break;
    }
  }
  if (!dose) {
    how = u.dosages.empty() ? "no dosage" : "no dosage instruction covers the day";
    return std::nullopt;
  }
  if (dose->as_needed) {
    how = "as needed";
    return std::nullopt;
  }
  if (!dose->dose || !dose->dose->value) {
    how = "no dose quantity" +
          (dose->text.empty() ? std::string() : " (text: '" + sanitize_for_log(dose->text, 40) + "')");
    return std::nullopt;
  }
  const auto& q = *dose->dose;
  std::string unit = to_lower_ascii(q.code.empty() ? q.unit : q.code);
  const Decimal& amount = *q.value;
  std::optional<Decimal> mg;
  if (unit == "mg") {
    mg = amount;
  } else if (unit == "g") {
    mg = amount.times(Decimal::from_int(1000));
  } else if (unit == "ug" || unit == "mcg" || unit == "µg") {
    mg = amount.times(Decimal::from_parts(1, 3));  // x 0.001
  } else if (f.match.strength_mg &&
             (unit.empty() || unit == "1" || unit == "tablet" || unit == "tab" || unit == "{tbl}" ||
              unit == "capsule" || unit == "{capsule}" || unit == "pill")) {
    mg = amount.times(*f.match.strength_mg);
    unit = q.unit.empty() ? "unit" : q.unit;
    how = q.value->to_string() + " x " + f.match.strength_mg->to_string() + " mg " + unit;
  } else {
    how = "dose unit '" + sanitize_for_log(q.unit.empty() ? q.code : q.unit, 20) + "' is not a mass";
    return std::nullopt;
  }
  if (!mg) {
    how = "dose too large to compute";
    return std::nullopt;
  }
  if (u.h.type == fhir::ResourceType::medication_administration) {
    how = (how.empty() ? q.value->to_string() + " " + unit : how) + " given once";
    return mg;  // one administration on its day
  }
  std::string freq;
  auto pd = per_day(dose->timing, freq);
  if (!pd) {
    how = freq;
    return std::nullopt;
  }
  how = (how.empty() ? q.value->to_string() + " " + unit : how) + " x " + freq;
  auto total = mg->times(pd->per);
  auto daily = total ? total->divided(pd->days, kDoseDigits) : std::nullopt;
  if (!daily) how = "dose too large to compute (" + how + ")";
  return daily;
}

}  // namespace cf::criteria
