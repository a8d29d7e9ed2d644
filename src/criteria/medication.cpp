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
      s.counts = st == "active" || st == "completed" || st == "on-hold" || st == "stopped" ||
                 st == "unknown" || st.empty();
      active_like = st == "active" || st == "on-hold";
      // A proposal, a plan or an option is not an order that was given (as MedicationStatement 'intended'),
      // and doNotPerform is an order not to give the drug.
      if (u.intent == "proposal" || u.intent == "plan" || u.intent == "option" || u.do_not_perform)
        s.counts = false;
      break;
    case T::medication_statement:
      s.counts = st == "active" || st == "completed" || st == "stopped" || st == "on-hold" ||
                 st == "unknown" || st.empty();
      active_like = st == "active" || st == "on-hold";
      break;
    case T::medication_administration:
      s.counts = st == "completed" || st == "in-progress" || st == "stopped" || st == "unknown" || st.empty();
      break;
    default:
      break;
  }
  if (!s.counts) {
    s.why = "status '" + st + "'" + (u.intent.empty() ? "" : ", intent '" + u.intent + "'") +
            (u.do_not_perform ? ", doNotPerform" : "") + " is not a use";
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
    // Status 'unknown' with no end may still run: every day to the as-of date is possible (and uncertain).
    if (active_like || st == "unknown") {
      s.ongoing = active_like;
      s.end = as_of;
    } else {
      s.end = s.start;  // a completed order with no end: only its own day is known
    }
  }
  if (st == "unknown" || (st == "stopped" && u.h.type == T::medication_administration))
    s.uncertain_from = s.start;
  else if (st == "stopped")
    s.uncertain_from = *s.start + 1;  // taken from its start, stopped on a day not given
  return s;
}

namespace {
// The route of the first dosage that gives one: it decides (nullptr when none does).
const fhir::CodeableConcept* first_route(const fhir::MedicationUse& u) {
  for (const auto& d : u.dosages)
    if (!d.route.empty()) return &d.route;
  return nullptr;
}
bool has_code(const fhir::CodeableConcept& cc, std::initializer_list<const char*> codes) {
  for (const auto& c : cc.codings)
    for (const char* k : codes)
      if (iequals_ascii(c.code, k)) return true;
  return false;
}
bool contains_any(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* w : words)
    if (text.find(w) != std::string::npos) return true;
  return false;
}
}  // namespace

bool local_route(const fhir::MedicationUse& u) {
  const fhir::CodeableConcept* route = first_route(u);
  if (!route) return false;
  // SNOMED topical, ophthalmic, otic, nasal, inhalation, respiratory tract; EDQM cutaneous use; HL7
  // RouteOfAdministration. Written from memory (not verified against the code systems): the words below
  // catch the displays and texts too.
  if (has_code(*route, {"6064005", "54485002", "10547007", "46713006", "18679011", "447694001", "20008000",
                        "TOPICAL", "OPTHALTA", "OTIC", "NASAL", "IPINHL", "ORINHL", "NASINHL"}))
    return true;
  std::string text = to_lower_ascii(route->text);
  for (const auto& c : route->codings) text += " " + to_lower_ascii(c.display);
  // Injections under or through the skin act systemically.
  if (contains_any(text, {"subcutaneous", "percutaneous"})) return false;
  return contains_any(text, {"topical", "cutaneous", "ophthalm", "ocular", "eye", "otic", "auricular",
                             "nasal", "inhal", "外用", "吸入", "滴眼"});
}

bool oral_or_unspecified(const fhir::MedicationUse& u) {
  const fhir::CodeableConcept* route = first_route(u);
  if (!route) return true;
  // SNOMED oral route, HL7 RouteOfAdministration PO, EDQM 20053000 "Oral use".
  if (has_code(*route, {"26643006", "20053000", "PO", "oral"})) return true;
  if (contains_any(to_lower_ascii(route->text), {"oral", "mouth", "per os", "口服"})) return true;
  for (const auto& c : route->codings)
    if (to_lower_ascii(c.display).find("oral") != std::string::npos) return true;
  return false;
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
  if (t.varies) {
    how = "dosing frequency given as a range (frequencyMax or periodMax)";
    return std::nullopt;
  }
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

namespace {

// mg of the drug a day by one dosage instruction; a doseRange gives its two ends.
std::optional<DoseRange> dosage_mg(const terminology::MedicationFact& f, const fhir::Dosage& dose,
                                   std::string& how) {
  const auto& u = *f.use;
  if (dose.as_needed) {
    how = "as needed";
    return std::nullopt;
  }
  if (!dose.dose || !dose.dose->value) {
    how = "no dose quantity" +
          (dose.text.empty() ? std::string() : " (text: '" + sanitize_for_log(dose.text, 40) + "')");
    return std::nullopt;
  }
  const auto& q = *dose.dose;
  std::string unit = to_lower_ascii(q.code.empty() ? q.unit : q.code);
  // The low end of a range is read in the high end's unit when it has none of its own.
  const fhir::Quantity* low_q = dose.dose_low && dose.dose_low->value ? &*dose.dose_low : nullptr;
  if (dose.dose_low && !low_q) {
    how = "dose range without a low value";
    return std::nullopt;
  }
  if (low_q && (!low_q->unit.empty() || !low_q->code.empty()) &&
      to_lower_ascii(low_q->code.empty() ? low_q->unit : low_q->code) != unit) {
    how = "dose range with two units";
    return std::nullopt;
  }
  std::optional<Decimal> factor;  // mg per unit of the dose
  std::string described;
  if (unit == "mg") {
    factor = Decimal::from_int(1);
  } else if (unit == "g") {
    factor = Decimal::from_int(1000);
  } else if (unit == "ug" || unit == "mcg" || unit == "µg") {
    factor = Decimal::from_parts(1, 3);  // x 0.001
  } else if (f.match.strength_mg &&
             (unit.empty() || unit == "1" || unit == "tablet" || unit == "tab" || unit == "{tbl}" ||
              unit == "capsule" || unit == "{capsule}" || unit == "pill")) {
    factor = *f.match.strength_mg;
    unit = q.unit.empty() ? "unit" : q.unit;
    described = " x " + f.match.strength_mg->to_string() + " mg " + unit;
  } else {
    how = "dose unit '" + sanitize_for_log(q.unit.empty() ? q.code : q.unit, 20) + "' is not a mass";
    return std::nullopt;
  }
  const std::string amount = (low_q ? low_q->value->to_string() + "-" : std::string()) + q.value->to_string();
  how = amount + (described.empty() ? " " + unit : described);
  auto high = q.value->times(*factor);
  auto low = low_q ? low_q->value->times(*factor) : high;
  if (!high || !low) {
    how = "dose too large to compute";
    return std::nullopt;
  }
  if (*low > *high) {
    how = "dose range " + amount + " runs backwards";
    return std::nullopt;
  }
  if (u.h.type == fhir::ResourceType::medication_administration) {
    how += " given once";
    return DoseRange{*low, *high};  // one administration on its day
  }
  std::string freq;
  auto pd = per_day(dose.timing, freq);
  if (!pd) {
    how = freq;
    return std::nullopt;
  }
  how += " x " + freq;
  auto per_day_of = [&](const Decimal& mg) -> std::optional<Decimal> {
    auto total = mg.times(pd->per);
    return total ? total->divided(pd->days, kDoseDigits) : std::nullopt;
  };
  auto daily_high = per_day_of(*high);
  auto daily_low = per_day_of(*low);
  if (!daily_high || !daily_low) {
    how = "dose too large to compute (" + how + ")";
    return std::nullopt;
  }
  return DoseRange{*daily_low, *daily_high};
}

}  // namespace

std::optional<DoseRange> daily_mg(const terminology::MedicationFact& f, Days day, std::string& how) {
  const auto& u = *f.use;
  std::vector<const fhir::Dosage*> covering;
  for (const auto& d : u.dosages)
    if ((!d.timing.bounds_start || d.timing.bounds_start->first <= day) &&
        (!d.timing.bounds_end || d.timing.bounds_end->last >= day))
      covering.push_back(&d);
  if (covering.empty()) {
    how = u.dosages.empty() ? "no dosage" : "no dosage instruction covers the day";
    return std::nullopt;
  }
  // Several instructions on one day: the same `sequence` means taken together (5 mg morning + 5 mg
  // evening); different sequences mean one or the other; without sequences it cannot be told, so the day's
  // dose lies between the smallest single instruction and their sum.
  std::map<std::int32_t, DoseRange> by_sequence;
  bool all_sequenced = true;
  std::optional<Decimal> smallest;
  DoseRange sum{Decimal::from_int(0), Decimal::from_int(0)};
  std::string parts;
  for (const fhir::Dosage* d : covering) {
    std::string one;
    auto r = dosage_mg(f, *d, one);
    if (!r) {
      how = one;
      return std::nullopt;
    }
    parts += (parts.empty() ? "" : " + ") + one;
    auto lo = sum.low.plus(r->low);
    auto hi = sum.high.plus(r->high);
    if (!lo || !hi) {
      how = "dose too large to compute";
      return std::nullopt;
    }
    sum = {*lo, *hi};
    if (!smallest || r->low < *smallest) smallest = r->low;
    if (!d->sequence) {
      all_sequenced = false;
      continue;
    }
    auto [it, fresh] = by_sequence.try_emplace(*d->sequence, *r);
    if (!fresh) {
      auto glo = it->second.low.plus(r->low);
      auto ghi = it->second.high.plus(r->high);
      if (!glo || !ghi) {
        how = "dose too large to compute";
        return std::nullopt;
      }
      it->second = {*glo, *ghi};
    }
  }
  how = parts;
  if (covering.size() == 1) return sum;
  if (all_sequenced) {
    if (by_sequence.size() == 1) {
      how += " (taken together: the same sequence)";
      return sum;
    }
    DoseRange r = by_sequence.begin()->second;
    for (const auto& [seq, g] : by_sequence) {
      if (g.low < r.low) r.low = g.low;
      if (g.high > r.high) r.high = g.high;
    }
    how += " (one sequence or another)";
    return r;
  }
  how += " (together or one of them: no sequence)";
  return DoseRange{*smallest, sum.high};
}

}  // namespace cf::criteria
