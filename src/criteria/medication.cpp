#include "criteria/medication.hpp"

#include "core/text.hpp"

namespace cf::criteria {

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
    if (!s.end && d.timing.bounds_duration && d.timing.bounds_duration->value && s.start) {
      const auto& q = *d.timing.bounds_duration;
      long double n = q.value->to_long_double();
      std::string unit = q.code.empty() ? q.unit : q.code;
      long double days = unit == "d" || unit == "day" || unit == "days"      ? n
                         : unit == "wk" || unit == "week" || unit == "weeks" ? n * 7
                         : unit == "mo" || unit == "month"                   ? n * 30
                         : unit == "h"                                       ? n / 24
                                                                             : -1;
      if (days >= 0) s.end = *s.start + static_cast<Days>(days) - (days >= 1 ? 1 : 0);
    }
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
