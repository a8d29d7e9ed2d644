// Leaves that read medication use: therapy exposure, current glucocorticoid dose, sustained high dose.
#include <algorithm>
#include <map>

#include "core/text.hpp"
#include "criteria/evidence.hpp"
#include "criteria/medication.hpp"
#include "criteria/nodes.hpp"

namespace cf::criteria {

bool DrugFilter::matches(const terminology::Ingredient& i) const {
  if (ingredients.count(i.id)) return true;
  return std::any_of(i.classes.begin(), i.classes.end(),
                     [&](const std::string& c) { return classes.count(c) > 0; });
}

std::string DrugFilter::describe() const {
  std::string s;
  for (const auto& c : classes) s += (s.empty() ? "" : "/") + c;
  for (const auto& c : ingredients) s += (s.empty() ? "" : "/") + c;
  return s;
}

namespace {

// A use's resource, dates and status, with the span it was read as.
Evidence use_evidence(const fhir::MedicationUse& u, const UseSpan& s) {
  Evidence e = evidence_from(u.h);
  e.date = u.start_text.empty() ? u.authored_text : u.start_text;
  e.original = u.status;
  if (s.start)
    e.normalised = format_day(*s.start) + " to " + (s.ongoing ? "ongoing" : s.end ? format_day(*s.end) : "?");
  return e;
}

Evidence med_evidence(const terminology::MedicationFact& f, const UseSpan& s) {
  Evidence e = use_evidence(*f.use, s);
  set_match(e, f.match);
  return e;
}

bool is_gc(const terminology::MedicationFact& f) {
  const auto& c = f.match.ingredient->classes;
  return std::find(c.begin(), c.end(), "glucocorticoid") != c.end();
}

// Medication resources hold the drug of uses that name it by reference: without them such a use is no drug.
bool medication_incomplete(Context& ctx) {
  return ctx.rec.unresolved_medication || ctx.type_incomplete("MedicationRequest") ||
         ctx.type_incomplete("MedicationStatement") || ctx.type_incomplete("MedicationAdministration") ||
         ctx.type_incomplete("Medication");
}

// What a use of a drug the mappings do not identify shows: its resource and the code or name it gives.
Evidence unidentified_evidence(const fhir::MedicationUse& u, const UseSpan& s) {
  Evidence e = use_evidence(u, s);
  const auto& c = u.medication;
  if (!c.codings.empty()) {
    const auto& k = c.codings.front();
    e.coding = sanitize_for_log(k.system + "|" + k.code + (k.display.empty() ? "" : " " + k.display));
  } else {
    e.coding = "text '" + sanitize_for_log(c.text, 60) + "'";
  }
  e.rule = "no code or name of the medication mappings identifies this drug";
  return e;
}

std::string drug_name(const fhir::MedicationUse& u) {
  const auto& c = u.medication;
  if (!c.text.empty()) return sanitize_for_log(c.text, 60);
  for (const auto& k : c.codings)
    if (!k.display.empty()) return sanitize_for_log(k.display, 60);
  return c.codings.empty() ? std::string("(no code)")
                           : c.codings.front().system + "|" + c.codings.front().code;
}

class MedicationLeaf : public Node {
 public:
  MedicationLeaf(DrugFilter f, bool active, Window w, int min_days, Tri absent, bool unidentified_unknown)
      : f_(std::move(f)),
        active_(active),
        w_(w),
        min_days_(min_days),
        absent_(absent),
        unidentified_unknown_(unidentified_unknown) {}
  NodeResult eval(Context& ctx) const override {
    std::vector<Evidence> hits, doubts;
    std::string reason;
    const Days lo = w_.start(ctx.as_of);
    for (const auto& m : ctx.rec.medications) {
      // A cream, drops or an inhaler is no SLE therapy (topical steroid or tacrolimus).
      if (!f_.matches(*m.match.ingredient) || local_route(*m.use)) continue;
      UseSpan s = span_of(*m.use, ctx.as_of);
      if (!s.counts || *s.start > ctx.as_of) continue;
      if (!reaches(s, ctx.as_of, lo)) continue;
      Evidence e = med_evidence(m, s);
      // The day that shows the use: the as-of date, or the first day of the use in the window.
      const Days shown =
          active_ ? ctx.as_of : std::max(*s.start, w_.unit == Window::Unit::ever ? *s.start : lo);
      if (!s.certain_on(shown)) {
        e.note = "status '" + m.use->status + "': " +
                 (*s.uncertain_from > *s.start ? "stopped on a day the record does not give"
                                               : "may not have been taken");
        doubts.push_back(std::move(e));
        continue;
      }
      if (min_days_ > 0 && ctx.as_of - *s.start < min_days_) {
        e.note = "started " + std::to_string(ctx.as_of - *s.start) + " days before the as-of date (< " +
                 std::to_string(min_days_) + ")";
        doubts.push_back(std::move(e));
        continue;
      }
      e.note = active_ ? "active on the as-of date" : "used in the window";
      if (m.match.low_confidence) {
        e.note += " (matched by name: confirm)";
        doubts.push_back(std::move(e));
        continue;
      }
      if (reason.empty()) reason = m.match.ingredient->id + " " + e.note;
      hits.push_back(std::move(e));
    }
    if (!hits.empty()) return NodeResult::met(reason, std::move(hits));
    if (!doubts.empty()) {
      std::string why = f_.describe() + ": " + doubts.front().note;
      return NodeResult::unknown(std::move(why), std::move(doubts));
    }
    std::string none =
        "no " + f_.describe() + (active_ ? " active on the as-of date" : " use (" + w_.describe() + ")");
    if (medication_incomplete(ctx)) return NodeResult::unknown(none + ", but the source data are incomplete");
    if (unidentified_unknown_) {
      // "No other therapy" cannot be said while a drug the mappings do not know is taken: it may be one.
      std::vector<Evidence> unknown_drugs;
      std::string names;
      for (const auto& u : ctx.rec.unidentified_medications) {
        if (local_route(*u)) continue;
        UseSpan s = span_of(*u, ctx.as_of);
        if (!s.counts || *s.start > ctx.as_of) continue;
        if (!reaches(s, ctx.as_of, lo)) continue;
        Evidence e = unidentified_evidence(*u, s);
        e.note = active_ ? "active on the as-of date; which drug it is is not known"
                         : "used in the window; which drug it is is not known";
        if (unknown_drugs.size() < 3) names += (names.empty() ? "" : ", ") + drug_name(*u);
        unknown_drugs.push_back(std::move(e));
      }
      if (!unknown_drugs.empty()) {
        const std::size_t n = unknown_drugs.size();
        return NodeResult::unknown(none + " identified, but " + std::to_string(n) +
                                       " medication use(s) of a drug the mappings do not identify (" + names +
                                       (n > 3 ? ", ..." : "") + "): map it in mappings/ if it may be one",
                                   std::move(unknown_drugs));
      }
    }
    return absent_ == Tri::not_met ? NodeResult::not_met(none) : NodeResult::unknown(none);
  }

 private:
  // Does a use that began by the as-of date count: active on it, or (for a window) ending inside the window?
  bool reaches(const UseSpan& s, Days as_of, Days window_start) const {
    return active_ ? *s.end >= as_of : (w_.unit == Window::Unit::ever || *s.end >= window_start);
  }
  DrugFilter f_;
  bool active_;
  Window w_;
  int min_days_;
  Tri absent_;
  bool unidentified_unknown_;
};

class DistinctTherapies : public Node {
 public:
  DistinctTherapies(std::set<std::string> classes, int n, std::set<std::string> one_of, Window w)
      : classes_(std::move(classes)), n_(n), one_of_(std::move(one_of)), w_(w) {}
  NodeResult eval(Context& ctx) const override {
    std::map<std::string, Evidence> seen;  // class -> first evidence
    const Days lo = w_.start(ctx.as_of);
    for (const auto& m : ctx.rec.medications) {
      UseSpan s = span_of(*m.use, ctx.as_of);
      if (!s.counts || *s.start > ctx.as_of || m.match.low_confidence || local_route(*m.use)) continue;
      if (w_.unit != Window::Unit::ever && *s.end < lo) continue;
      if (!s.certain_on(std::max(*s.start, w_.unit == Window::Unit::ever ? *s.start : lo))) continue;
      for (const auto& c : m.match.ingredient->classes) {
        if (!classes_.count(c) || seen.count(c)) continue;
        Evidence e = med_evidence(m, s);
        e.note = "class " + c;
        seen.emplace(c, std::move(e));
      }
    }
    std::vector<Evidence> ev;
    std::string list;
    bool required = one_of_.empty();
    for (auto& [c, e] : seen) {
      list += (list.empty() ? "" : ", ") + c;
      if (one_of_.count(c)) required = true;
      ev.push_back(std::move(e));
    }
    const int n = static_cast<int>(seen.size());
    if (n >= n_ && required)
      return NodeResult::met(std::to_string(n) + " therapy classes on record: " + list, std::move(ev));
    return NodeResult::unknown(std::to_string(n) + " qualifying therapy class(es) on record" +
                                   (list.empty() ? "" : " (" + list + ")") +
                                   "; medication history may be incomplete",
                               std::move(ev));
  }

 private:
  std::set<std::string> classes_;
  int n_;
  std::set<std::string> one_of_;
  Window w_;
};

struct DoseParts {
  // mg/day prednisone-equivalent of the doses that could be computed: at least `low`, at most `high`.
  Decimal low, high;
  bool any = false;
  std::vector<Evidence> ev;
  std::vector<Evidence> unknown;  // doses that could not be computed (anything from 0 up)
  std::string text() const {
    return low == high ? low.rounded_text(2) : low.rounded_text(2) + "-" + high.rounded_text(2);
  }
};

// mg of prednisone equal to `mg` of a glucocorticoid: multiplied first, then divided (to kDoseDigits
// decimals, like a daily dose), so that a table's pair gives exact figures wherever they are exact (6 mg of
// dexamethasone at 5 per 0.75: 40).
std::optional<Decimal> prednisone_equivalent(const Decimal& mg,
                                             const terminology::PrednisoneEquivalence& eq) {
  auto p = mg.times(eq.prednisone_mg);
  if (!p || eq.per_mg == Decimal::from_int(1)) return p;
  return p->divided(eq.per_mg, kDoseDigits);
}

// Prednisone-equivalent mg on `day` over the glucocorticoid uses that run that day. Different drugs add up.
// Several records of the same drug on one day (an order and a statement of it, a renewal whose old order
// was never closed, or two prescriptions taken together) may or may not add up: their total lies between
// the smallest of them and their sum. A use that may not run that day (UseSpan::uncertain_from) adds from
// 0 up to its dose. A cream, eye drops or an inhaler (local_route) is no systemic dose and is left out.
// Administrations of a drug on the day are separate doses given: they add up, and their total is one record
// beside the orders and statements (which may be the same doses, ordered).
DoseParts gc_on_day(Context& ctx, Days day, bool oral_only, bool administrations) {
  DoseParts d;
  struct Drug {
    std::optional<Decimal> smallest;
    Decimal sum = Decimal::from_int(0);
    bool overflow = false;
    bool given = false;  // administrations, summed in given_low / given_high
    Decimal given_low = Decimal::from_int(0), given_high = Decimal::from_int(0);
  };
  std::map<std::string, Drug> drugs;
  for (const auto& m : ctx.rec.medications) {
    if (!is_gc(m) || !m.match.ingredient->prednisone_mg_per_mg) continue;
    if (oral_only && !oral_or_unspecified(*m.use)) continue;
    const bool given = m.use->h.type == fhir::ResourceType::medication_administration;
    if (!administrations && given) continue;
    // An administration without a route may be an IV pulse: for an oral dose only a stated oral route counts.
    if (oral_only && given &&
        std::all_of(m.use->dosages.begin(), m.use->dosages.end(),
                    [](const auto& dosage) { return dosage.route.empty(); }))
      continue;
    if (local_route(*m.use)) continue;
    UseSpan s = span_of(*m.use, ctx.as_of);
    if (!s.counts || *s.start > day || *s.end < day) continue;
    d.any = true;
    Evidence e = med_evidence(m, s);
    const bool certain = s.certain_on(day);
    if (!certain) e.note = "status '" + m.use->status + "': may not have been taken on " + format_day(day);
    std::string how;
    auto mg = daily_mg(m, day, how);
    const auto& eq_of = *m.match.ingredient->prednisone_mg_per_mg;
    const auto lo = mg ? prednisone_equivalent(mg->low, eq_of) : std::nullopt;
    const auto hi = mg ? prednisone_equivalent(mg->high, eq_of) : std::nullopt;
    if (!mg || !lo || !hi || m.match.low_confidence) {
      e.note = "dose cannot be computed: " + (!mg                      ? how
                                              : m.match.low_confidence ? std::string("matched by name")
                                                                       : std::string("too large"));
      d.unknown.push_back(std::move(e));
      continue;
    }
    const auto range_text = [](const Decimal& a, const Decimal& b) {
      return a == b ? a.rounded_text(2) : a.rounded_text(2) + "-" + b.rounded_text(2);
    };
    e.normalised = range_text(*lo, *hi) + " mg/day prednisone-eq";
    e.conversion = how + " = " + range_text(mg->low, mg->high) + " mg/day " + m.match.ingredient->id + " x " +
                   m.match.ingredient->prednisone_mg_per_mg->text();
    Drug& g = drugs[m.match.ingredient->id];
    if (given) {
      auto gl = certain ? g.given_low.plus(*lo) : std::optional<Decimal>(g.given_low);
      auto gh = g.given_high.plus(*hi);
      if (gl && gh) {
        g.given = true;
        g.given_low = *gl;
        g.given_high = *gh;
      } else {
        g.overflow = true;
      }
      d.ev.push_back(std::move(e));
      continue;
    }
    if (certain && (!g.smallest || *lo < *g.smallest)) g.smallest = *lo;
    if (auto sum = g.sum.plus(*hi))
      g.sum = *sum;
    else
      g.overflow = true;
    d.ev.push_back(std::move(e));
  }
  for (auto& [id, g] : drugs) {
    if (g.given) {  // the day's administrations as one record
      if (!g.smallest || g.given_low < *g.smallest) g.smallest = g.given_low;
      if (auto sum = g.sum.plus(g.given_high))
        g.sum = *sum;
      else
        g.overflow = true;
    }
    auto lo = d.low.plus(g.smallest.value_or(Decimal::from_int(0)));  // none certain: from 0
    auto hi = d.high.plus(g.sum);
    if (!lo || !hi || g.overflow) {  // beyond any real dose: left as a dose that cannot be computed
      if (!d.ev.empty()) d.unknown.push_back(d.ev.back());
      continue;
    }
    d.low = *lo;
    d.high = *hi;
  }
  return d;
}

// Doses are exact decimals (criteria/medication.hpp), compared exactly, as a value without a comparator.
bool compare_dose(const Decimal& v, terminology::CompareOp op, const Decimal& t) {
  return terminology::test_with_comparator(v <=> t, "", op) == terminology::Tri::met;
}

class GcDose : public Node {
 public:
  GcDose(bool oral, terminology::CompareOp op, Decimal mg, Tri none)
      : oral_(oral), op_(op), mg_(mg), none_(none) {}
  NodeResult eval(Context& ctx) const override {
    // Administrations on the as-of date count, as they do for "active on the as-of date" (I6d read a
    // prednisone given that day as active but its dose as none).
    DoseParts d = gc_on_day(ctx, ctx.as_of, oral_, true);
    const std::string test = std::string(terminology::to_string(op_)) + " " + mg_.to_string() + " mg/day";
    if (!d.any) {
      std::string why =
          std::string("no ") + (oral_ ? "oral " : "") + "glucocorticoid active on the as-of date";
      if (medication_incomplete(ctx))
        return NodeResult::unknown(why + ", but the source data are incomplete");
      if (none_ == Tri::met) return NodeResult::met(why);
      if (none_ == Tri::not_met) return NodeResult::not_met(why);
      return NodeResult::unknown(why);
    }
    const std::string total = d.text() + " mg/day prednisone-eq";
    // Decided only where every dose the records allow decides the same way; a dose that cannot be computed
    // could be anything from 0 up, so it leaves only an upper limit to be broken by what is known.
    const bool upper = op_ == terminology::CompareOp::lt || op_ == terminology::CompareOp::le;
    const bool low_passes = compare_dose(d.low, op_, mg_);
    const bool high_passes = compare_dose(d.high, op_, mg_);
    const bool unknown_part = !d.unknown.empty();
    std::string unknown_why = unknown_part ? d.unknown.back().note : std::string();
    for (auto& e : d.unknown) d.ev.push_back(std::move(e));
    if (upper) {
      if (!low_passes)
        return NodeResult::not_met((unknown_part ? "at least " : "") + total + ", not " + test,
                                   std::move(d.ev));
      if (high_passes && !unknown_part) return NodeResult::met(total + ", " + test, std::move(d.ev));
    } else {
      if (low_passes)
        return NodeResult::met((unknown_part ? "at least " : "") + total + ", " + test, std::move(d.ev));
      if (!high_passes && !unknown_part) return NodeResult::not_met(total + ", not " + test, std::move(d.ev));
    }
    if (unknown_part)
      return NodeResult::unknown("glucocorticoid dose cannot be computed: " + unknown_why, std::move(d.ev));
    return NodeResult::unknown(
        total + " (the records allow doses on either side of " + mg_.to_string() + " mg/day)",
        std::move(d.ev));
  }

 private:
  bool oral_;
  terminology::CompareOp op_;
  Decimal mg_;
  Tri none_;
};

class GcSustained : public Node {
 public:
  GcSustained(Decimal mg, int days, Window w) : mg_(mg), days_(days), w_(w) {}
  NodeResult eval(Context& ctx) const override {
    const Days lo = w_.unit == Window::Unit::ever ? ctx.as_of - 3650 : w_.start(ctx.as_of);
    int run = 0, best = 0, unknown_days = 0, maybe_run = 0, best_maybe = 0;
    Days best_end = lo;
    std::vector<Evidence> ev;
    std::set<std::string> seen;
    // A day that no course of a glucocorticoid covers only resets the runs, so only the days from the first
    // start to the last end of a course are visited (none for most patients, instead of every day of years).
    Days from = ctx.as_of + 1, to = lo - 1;
    for (const auto& m : ctx.rec.medications) {
      if (!is_gc(m) || !m.match.ingredient->prednisone_mg_per_mg || local_route(*m.use)) continue;
      const UseSpan s = span_of(*m.use, ctx.as_of);
      if (!s.counts) continue;
      from = std::min(from, s.start ? *s.start : lo);
      to = std::max(to, s.end ? *s.end : ctx.as_of);
    }
    for (Days day = std::max(lo, from); day <= std::min(ctx.as_of, to); ++day) {
      DoseParts d = gc_on_day(ctx, day, false, true);
      const bool high = d.any && compare_dose(d.low, terminology::CompareOp::ge, mg_);
      const bool maybe =
          high || (d.any && (!d.unknown.empty() || compare_dose(d.high, terminology::CompareOp::ge, mg_)));
      run = high ? run + 1 : 0;
      maybe_run = maybe ? maybe_run + 1 : 0;
      if (!d.unknown.empty()) ++unknown_days;
      if (run > best) {
        best = run;
        best_end = day;
      }
      best_maybe = std::max(best_maybe, maybe_run);
      for (auto* list : {&d.ev, &d.unknown})
        for (auto& e : *list)
          if ((high || maybe) && seen.insert(e.resource).second) ev.push_back(std::move(e));
    }
    const std::string what =
        ">= " + mg_.to_string() + " mg/day prednisone-eq for >= " + std::to_string(days_) + " days";
    if (best >= days_)
      return NodeResult::met(
          std::to_string(best) + " days " + ">= " + mg_.to_string() + " mg/day up to " + format_day(best_end),
          std::move(ev));
    if (best_maybe >= days_)
      return NodeResult::unknown(
          "a glucocorticoid dose in the window cannot be computed; " + what + " possible", std::move(ev));
    if (medication_incomplete(ctx))
      return NodeResult::unknown("no " + what + ", but the source data are incomplete");
    return NodeResult::not_met(
        "no " + what + " (" + w_.describe() + "; longest run " + std::to_string(best) + " days)",
        std::move(ev));
  }

 private:
  Decimal mg_;
  int days_;
  Window w_;
};

}  // namespace

NodePtr make_medication(DrugFilter f, bool active, Window w, int min_days, Tri absent,
                        bool unidentified_unknown) {
  return std::make_shared<MedicationLeaf>(std::move(f), active, w, min_days, absent, unidentified_unknown);
}
NodePtr make_distinct_therapies(std::set<std::string> classes, int n, std::set<std::string> one_of,
                                Window w) {
  return std::make_shared<DistinctTherapies>(std::move(classes), n, std::move(one_of), w);
}
NodePtr make_gc_dose(bool oral, terminology::CompareOp op, Decimal mg, Tri none) {
  return std::make_shared<GcDose>(oral, op, mg, none);
}
NodePtr make_gc_sustained(Decimal mg, int days, Window w) {
  return std::make_shared<GcSustained>(mg, days, w);
}

}  // namespace cf::criteria
