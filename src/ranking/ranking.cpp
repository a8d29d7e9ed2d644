#include "ranking/ranking.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/date.hpp"
#include "criteria/evidence.hpp"
#include "criteria/result_order.hpp"
#include "terminology/values.hpp"

namespace cf::ranking {

const char* to_string(Tier t) {
  switch (t) {
    case Tier::eligible:
      return "eligible";
    case Tier::possible:
      return "possible";
    case Tier::ineligible:
      return "ineligible";
  }
  return "possible";
}

namespace {

const char* kKeyConcepts[] = {"anti_dsdna", "ana_titre",         "c3", "c4",
                              "creatinine", "urine_protein_24h", "iga"};

void key_values(const criteria::Context& ctx, const criteria::Trial& trial, PatientOutcome& out) {
  for (const char* concept_id : kKeyConcepts) {
    const terminology::ObservationFact* best = nullptr;
    for (const auto& f : ctx.rec.observations) {
      if (f.match.con->id != concept_id) continue;
      const auto& o = *f.obs;
      if (o.status == "entered-in-error" || o.status == "cancelled" || o.h.unknown_modifier || !o.effective ||
          o.effective->first > ctx.as_of)
        continue;
      // The result the criteria take as the latest (criteria::newer_result), so that the value shown is the
      // value evaluated.
      if (!best || criteria::newer_result(o, *best->obs)) best = &f;
    }
    if (!best) continue;
    KeyValue kv;
    kv.concept_id = concept_id;
    const auto& v = best->obs->value;
    using K = fhir::ObservationValue::Kind;
    if (v.kind == K::quantity)
      kv.value = v.quantity.comparator + v.quantity.value_text + " " +
                 (v.quantity.unit.empty() ? v.quantity.code : v.quantity.unit);
    else if (v.kind == K::string)
      kv.value = v.text;
    else if (v.kind == K::codeable)
      kv.value = v.codeable.codings.empty() ? v.codeable.text : v.codeable.codings.front().display;
    else if (v.kind == K::ratio && v.ratio.numerator &&
             v.ratio.denominator)  // as written: "2:640" is not 1:640
      kv.value = v.ratio.denominator->comparator + v.ratio.numerator->value_text + ":" +
                 v.ratio.denominator->value_text;
    else if (v.kind == K::integer)
      kv.value = v.quantity.value_text;
    // One line of text: a value written over several lines ("Line1\nLine2") would break a CSV row apart.
    for (char& ch : kv.value)
      if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
    kv.date = best->obs->effective_text;
    kv.resource = best->obs->h.key();
    out.key_values.push_back(std::move(kv));
  }
  for (const auto& c : trial.ranking.recency_concepts)
    for (const auto& f : ctx.rec.observations)
      if (f.match.con->id == c && f.obs->effective && f.obs->effective->last <= ctx.as_of &&
          f.obs->status != "entered-in-error" && f.obs->status != "cancelled")
        if (!out.newest_key_result || f.obs->effective->last > *out.newest_key_result)
          out.newest_key_result = f.obs->effective->last;
}

const char* kSeriesConcepts[] = {"anti_dsdna", "c3", "c4", "creatinine", "urine_protein_24h", "iga"};

void lab_series(const criteria::Context& ctx, PatientOutcome& out) {
  for (const auto& f : ctx.rec.observations) {
    const std::string& id = f.match.con->id;
    if (std::find(std::begin(kSeriesConcepts), std::end(kSeriesConcepts), id) == std::end(kSeriesConcepts))
      continue;
    const auto& o = *f.obs;
    if (o.status == "entered-in-error" || o.status == "cancelled" || o.h.unknown_modifier || !o.effective ||
        o.effective->first > ctx.as_of)
      continue;
    if (o.value.kind != fhir::ObservationValue::Kind::quantity) continue;
    const auto* a = ctx.terms.analyte(f.match.con->analyte);
    if (!a) continue;
    LabPoint p;
    p.concept_id = id;
    p.day = o.effective->first;
    p.resource = o.h.key();
    p.comparator = o.value.quantity.comparator;
    if (a->canonical.empty()) {  // kit-specific units (anti-dsDNA): plotted as reported
      if (!o.value.quantity.value) continue;
      p.value = o.value.quantity.value->to_double();
      p.unit = o.value.quantity.unit.empty() ? o.value.quantity.code : o.value.quantity.unit;
    } else {
      std::string why;
      auto n = terminology::normalise(ctx.terms, *a, o.value.quantity, why);
      if (!n) continue;
      p.value = n->plotted();
      p.unit = n->canonical;
    }
    out.series.push_back(std::move(p));
  }
  std::sort(out.series.begin(), out.series.end(), [](const LabPoint& a, const LabPoint& b) {
    return a.concept_id != b.concept_id ? a.concept_id < b.concept_id
           : a.day != b.day             ? a.day < b.day
                                        : a.resource < b.resource;
  });
}

}  // namespace

PatientOutcome assess(const criteria::Trial& trial, criteria::Context& ctx) {
  using criteria::Outcome;
  PatientOutcome out;
  out.patient_id = ctx.rec.id;
  if (const auto& p = ctx.rec.patient) {
    out.deceased = p->deceased && (!p->deceased_date || p->deceased_date->first <= ctx.as_of);
    if (out.deceased) {
      criteria::Evidence e = criteria::evidence_from(p->h);
      e.original = p->deceased_date ? "deceasedDateTime" : "deceasedBoolean true";
      if (p->deceased_date) e.date = format_day(p->deceased_date->first);
      e.note = "deceased on or before the as-of date: never a candidate";
      out.deceased_evidence.push_back(std::move(e));
    }
    out.gender = p->gender;
    out.birth_date = p->birth_date_text;
    out.name = p->name;
  }
  out.results = trial.evaluate(ctx);
  out.bounds = ctx.score_bounds();
  for (std::size_t i = 0; i < trial.criteria.size(); ++i) {
    const auto& c = trial.criteria[i];
    const auto& r = out.results[i];
    const bool good = c.inclusion ? r.outcome == Outcome::met : r.outcome == Outcome::not_met;
    const bool bad = c.inclusion ? r.outcome == Outcome::not_met : r.outcome == Outcome::met;
    if (good) ++out.in_favour;
    if (bad) {
      ++out.against;
      out.deciding.push_back(c.id);
    }
    if (r.outcome == Outcome::unknown) {
      ++out.unknown;
      out.check_next.push_back(c.id + ": " + (c.check_next.empty() ? r.reason : c.check_next));
    }
    if (r.outcome == Outcome::manual) ++out.manual;
  }
  if (out.deceased) out.deciding.insert(out.deciding.begin(), "deceased");
  out.tier = !out.deciding.empty() ? Tier::ineligible : out.unknown > 0 ? Tier::possible : Tier::eligible;
  key_values(ctx, trial, out);
  // The trend series are drawn for candidates only (report.html; an ineligible patient's results line does
  // not carry them), and normalising every lab value of a hospital's ineligible majority would be wasted.
  if (out.tier != Tier::ineligible) lab_series(ctx, out);
  const auto& w = trial.ranking;
  out.score = w.per_criterion_in_favour * out.in_favour + w.per_sledai2k_point * out.bounds.sledai2k +
              // Without the entry criterion (ANA >= 1:80) the EULAR/ACR points classify nothing.
              w.per_eular_acr_point * (out.bounds.eular_entry ? out.bounds.eular_acr : 0);
  if (out.newest_key_result) {
    const double age = ctx.as_of - *out.newest_key_result;
    out.score += w.recency_weight * std::pow(0.5, age / w.recency_half_life_days);
  }
  out.score = std::round(out.score * 100) / 100;  // two decimals, so ties and outputs are stable
  return out;
}

void strip_evidence(PatientOutcome& o) {
  o.decided.clear();
  o.decided.reserve(o.results.size());
  for (const auto& r : o.results) o.decided.push_back(r.outcome);
  std::vector<criteria::CriterionResult>().swap(o.results);
  std::vector<std::string>().swap(o.check_next);
  std::vector<KeyValue>().swap(o.key_values);
  std::vector<LabPoint>().swap(o.series);
  std::vector<criteria::Evidence>().swap(o.deceased_evidence);
  criteria::ScoreBounds bounds;
  bounds.sledai2k = o.bounds.sledai2k;
  bounds.eular_acr = o.bounds.eular_acr;
  bounds.eular_entry = o.bounds.eular_entry;
  bounds.eular_clinical = o.bounds.eular_clinical;
  o.bounds = std::move(bounds);
  o.evidence_stripped = true;
}

std::vector<std::size_t> rank_all(std::vector<PatientOutcome>& v) {
  auto order = [](Tier t) { return t == Tier::eligible ? 0 : t == Tier::possible ? 1 : 2; };
  // Sorted as small keys, then moved into place once: sorting the outcomes themselves moved each of a
  // hospital's (hundreds of bytes, strings and vectors) some 17 times, on the one thread between evaluation
  // and output.
  struct Key {
    int order;
    double score;
    const std::string* id;
    std::size_t at;
  };
  std::vector<Key> keys;
  keys.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i)
    keys.push_back({order(v[i].tier), v[i].score, &v[i].patient_id, i});
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.order != b.order) return a.order < b.order;
    if (a.score != b.score) return a.score > b.score;
    if (const int c = a.id->compare(*b.id)) return c < 0;
    return a.at < b.at;  // the same patient twice: as they came
  });
  // In place, cycle by cycle (a second vector of outcomes would add tens of MB to the peak for a hospital).
  constexpr std::size_t kPlaced = SIZE_MAX;
  std::vector<std::size_t> from(keys.size());  // position i takes the outcome now at from[i]
  for (std::size_t i = 0; i < keys.size(); ++i) from[i] = keys[i].at;
  std::vector<std::size_t> was(from);
  for (std::size_t i = 0; i < from.size(); ++i) {
    if (from[i] == kPlaced) continue;
    if (from[i] == i) {
      from[i] = kPlaced;
      continue;
    }
    PatientOutcome held = std::move(v[i]);
    std::size_t j = i;
    while (from[j] != i) {
      v[j] = std::move(v[from[j]]);
      const std::size_t next = from[j];
      from[j] = kPlaced;
      j = next;
    }
    v[j] = std::move(held);
    from[j] = kPlaced;
  }
  int rank = 0;
  for (auto& o : v) o.rank = o.tier == Tier::ineligible ? 0 : ++rank;
  return was;
}

}  // namespace cf::ranking
