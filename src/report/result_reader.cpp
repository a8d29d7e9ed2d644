#include "report/result_reader.hpp"

#include <charconv>

#include "core/date.hpp"
#include "json/json.hpp"

namespace cf::report {

namespace {

using json::member;

std::string text(const json::Value* v) {
  return std::string(json::string(v).value_or(""));
}

std::vector<std::string> strings(const json::Value* arr) {
  std::vector<std::string> out;
  json::for_each(arr, [&](std::size_t, const json::Value& v) { out.push_back(text(&v)); });
  return out;
}

template <class T>
bool number(const json::Value* v, T& out) {
  const auto t = json::number_text(v);
  if (!t) return false;
  const auto r = std::from_chars(t->data(), t->data() + t->size(), out);
  return r.ec == std::errc() && r.ptr == t->data() + t->size();
}

criteria::Evidence evidence(const json::Value& e) {
  criteria::Evidence out;
  out.resource = text(member(e, "resource"));
  out.version_id = text(member(e, "versionId"));
  out.last_updated = text(member(e, "lastUpdated"));
  out.location = text(member(e, "location"));
  out.concept_id = text(member(e, "concept"));
  out.coding = text(member(e, "coding"));
  out.rule = text(member(e, "rule"));
  out.low_confidence = json::boolean(member(e, "low_confidence")).value_or(false);
  out.original = text(member(e, "original"));
  out.normalised = text(member(e, "normalised"));
  out.conversion = text(member(e, "conversion"));
  out.date = text(member(e, "date"));
  out.note = text(member(e, "note"));
  return out;
}

std::optional<ranking::Tier> tier_of(std::string_view s) {
  for (auto t : {ranking::Tier::eligible, ranking::Tier::possible, ranking::Tier::ineligible})
    if (s == ranking::to_string(t)) return t;
  return std::nullopt;
}

std::optional<criteria::Outcome> outcome_of(std::string_view s) {
  using criteria::Outcome;
  for (auto o : {Outcome::met, Outcome::not_met, Outcome::unknown, Outcome::manual})
    if (s == criteria::to_string(o)) return o;
  return std::nullopt;
}

}  // namespace

Result<ranking::PatientOutcome> read_result_line(const criteria::Trial& trial, std::string_view line) {
  json::Document doc;
  json::ParseError err;
  if (!json::parse(line, doc, err)) return make_error(err.message, "results line");
  ranking::PatientOutcome o;
  o.patient_id = text(member(doc, "patient"));
  const std::string where = "results line of patient '" + o.patient_id + "'";
  if (o.patient_id.empty()) return make_error("the line has no patient", "results line");
  const auto tier = tier_of(text(member(doc, "tier")));
  if (!tier) return make_error("unknown tier '" + text(member(doc, "tier")) + "'", where);
  o.tier = *tier;
  if (!number(member(doc, "rank"), o.rank)) return make_error("no valid rank", where);
  if (!number(member(doc, "score"), o.score)) return make_error("no valid score", where);
  o.deceased = json::boolean(member(doc, "deceased")).value_or(false);
  json::for_each(member(doc, "deceased_evidence"),
                 [&](std::size_t, const json::Value& e) { o.deceased_evidence.push_back(evidence(e)); });
  o.name = text(member(doc, "name"));
  o.gender = text(member(doc, "gender"));
  o.birth_date = text(member(doc, "birth_date"));
  o.deciding = strings(member(doc, "deciding"));
  o.check_next = strings(member(doc, "check_next"));

  const json::Value* sc = member(doc, "scores");
  if (!number(member(sc, "sledai2k_lab_bound"), o.bounds.sledai2k) ||
      !number(member(sc, "eular_acr_lab_bound"), o.bounds.eular_acr))
    return make_error("no valid score bounds", where);
  o.bounds.sledai2k_items = strings(member(sc, "sledai2k_items"));
  o.bounds.eular_entry = json::boolean(member(sc, "eular_acr_entry")).value_or(false);
  o.bounds.eular_items = strings(member(sc, "eular_acr_items"));
  json::for_each(member(sc, "evidence"),
                 [&](std::size_t, const json::Value& e) { o.bounds.evidence.push_back(evidence(e)); });

  const json::Value* crit = member(doc, "criteria");
  if (!json::is_array(crit) || crit->Size() != trial.criteria.size())
    return make_error("the line's criteria are not those of " + trial.id + " " + trial.version, where);
  std::string bad;
  json::for_each(crit, [&](std::size_t i, const json::Value& c) {
    criteria::CriterionResult r;
    r.id = text(member(c, "id"));
    const auto oc = outcome_of(text(member(c, "outcome")));
    if (r.id != trial.criteria[i].id || !oc) {
      if (bad.empty())
        bad = "criterion " + std::to_string(i + 1) + " is '" + r.id + "' with outcome '" +
              text(member(c, "outcome")) + "', the definition's is '" + trial.criteria[i].id + "'";
      return;
    }
    r.outcome = *oc;
    r.reason = text(member(c, "reason"));
    json::for_each(member(c, "evidence"),
                   [&](std::size_t, const json::Value& e) { r.evidence.push_back(evidence(e)); });
    o.results.push_back(std::move(r));
  });
  if (!bad.empty()) return make_error(bad, where);
  // The counts, as ranking::assess() makes them.
  for (std::size_t i = 0; i < trial.criteria.size(); ++i) {
    using criteria::Outcome;
    const auto oc = o.results[i].outcome;
    const bool inclusion = trial.criteria[i].inclusion;
    if (inclusion ? oc == Outcome::met : oc == Outcome::not_met) ++o.in_favour;
    if (inclusion ? oc == Outcome::not_met : oc == Outcome::met) ++o.against;
    if (oc == Outcome::unknown) ++o.unknown;
    if (oc == Outcome::manual) ++o.manual;
  }

  json::for_each(member(doc, "key_values"), [&](std::size_t, const json::Value& v) {
    o.key_values.push_back({text(member(v, "concept")), text(member(v, "value")), text(member(v, "date")),
                            text(member(v, "resource"))});
  });
  json::for_each(member(doc, "series"), [&](std::size_t, const json::Value& v) {
    ranking::LabPoint p;
    p.concept_id = text(member(v, "concept"));
    const auto day = parse_iso_day(text(member(v, "date")));
    if (!day || !number(member(v, "value"), p.value)) {
      if (bad.empty()) bad = "a trend point of " + p.concept_id + " has no valid date or value";
      return;
    }
    p.day = *day;
    p.comparator = text(member(v, "comparator"));
    p.unit = text(member(v, "unit"));
    p.resource = text(member(v, "resource"));
    o.series.push_back(std::move(p));
  });
  if (!bad.empty()) return make_error(bad, where);
  o.screening_status = text(member(member(doc, "screening"), "status"));
  return o;
}

}  // namespace cf::report
