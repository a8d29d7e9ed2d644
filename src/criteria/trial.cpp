#include "criteria/trial.hpp"

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/sha256.hpp"
#include "criteria/nodes.hpp"
#include "json/json.hpp"

namespace cf::criteria {

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::met:
      return "met";
    case Outcome::not_met:
      return "not_met";
    case Outcome::unknown:
      return "unknown";
    case Outcome::manual:
      return "manual";
  }
  return "unknown";
}

namespace {

using json::member;

// A member the compiler does not read would be silently ignored ("windw" → a window of ever), so every object
// names its members and any other is an error with its path.
Status known_members(const json::Value* v, const std::vector<std::string_view>& allowed,
                     const std::string& file, const std::string& path) {
  if (!v || !v->IsObject()) return {};
  for (auto m = v->MemberBegin(); m != v->MemberEnd(); ++m) {
    std::string_view name(m->name.GetString(), m->name.GetStringLength());
    bool ok = false;
    for (auto a : allowed) ok = ok || a == name;
    if (ok) continue;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return make_error("unknown member '" + std::string(name) + "'" +
                          (list.empty() ? " (takes none)" : " (expected: " + list + ")"),
                      file + ": " + path + "." + std::string(name));
  }
  return {};
}

// Compiles expressions; every error names the criterion and the JSON path of the field.
class Compiler {
 public:
  Compiler(const terminology::Terminology& t, std::string file) : t_(t), file_(std::move(file)) {}

  Result<NodePtr> node(const json::Value& v, const std::string& path) {
    if (!v.IsObject() || v.MemberCount() != 1)
      return fail(
          path,
          "an expression is an object with exactly one operator (all, any, not, at_least, manual, review, "
          "age, condition, procedure, coded, observation, medication, distinct_therapies, gc_dose, "
          "gc_sustained, score)");
    const std::string op(v.MemberBegin()->name.GetString(), v.MemberBegin()->name.GetStringLength());
    const json::Value& a = v.MemberBegin()->value;
    const std::string p = path + "." + op;
    if (auto st = members_of(op, a, p); !st) return st.error();
    if (op == "all" || op == "any") {
      auto kids = list(a, p);
      if (!kids) return kids.error();
      return op == "all" ? make_all(std::move(*kids)) : make_any(std::move(*kids));
    }
    if (op == "not") {
      auto k = node(a, p);
      if (!k) return k;
      return make_not(*k);
    }
    if (op == "at_least") {
      auto n = integer(a, "n", p, 1);
      auto kids = list(member(a, "of") ? *member(a, "of") : a, p + ".of");
      if (!n) return n.error();
      if (!kids) return kids.error();
      return make_at_least(*n, std::move(*kids));
    }
    if (op == "manual") {
      auto s = json::string(&a);
      if (!s || s->empty()) return fail(p, "a manual node gives its reason as a string");
      return make_manual(std::string(*s));
    }
    if (op == "review") {
      const json::Value* w = member(a, "when");
      auto r = json::string(member(a, "reason"));
      if (!w || !r) return fail(p, "needs 'when' and 'reason'");
      auto k = node(*w, p + ".when");
      if (!k) return k;
      return make_review(*k, std::string(*r));
    }
    if (op == "age") {
      auto lo = integer(a, "min", p, 0), hi = integer(a, "max", p, 0);
      if (!lo) return lo.error();
      if (!hi) return hi.error();
      if (*lo > *hi) return fail(p, "min is greater than max");
      return make_age(*lo, *hi);
    }
    if (op == "condition" || op == "procedure" || op == "coded") {
      auto c = concept_of(a, p,
                          op == "condition"   ? terminology::ConceptKind::condition
                          : op == "procedure" ? terminology::ConceptKind::procedure
                                              : terminology::ConceptKind::any);
      auto w = window(a, p);
      auto absent = tri(a, "absent", p, Tri::not_met);
      std::string status(json::string(member(a, "status")).value_or("any"));
      if (!c) return c.error();
      if (!w) return w.error();
      if (!absent) return absent.error();
      if (status != "any" && status != "active") return fail(p + ".status", "must be 'any' or 'active'");
      RecordTypes types = op == "condition"   ? RecordTypes::condition
                          : op == "procedure" ? RecordTypes::procedure
                                              : RecordTypes::both;
      return make_record(types, *c, *w, status == "active", *absent);
    }
    if (op == "observation") return observation(a, p);
    if (op == "medication") {
      auto f = drugs(a, p);
      if (!f) return f.error();
      bool active = json::boolean(member(a, "active_at_as_of")).value_or(false);
      auto w = window(a, p);
      auto min_days = integer(a, "min_days", p, 0, true);
      auto absent = tri(a, "absent", p, Tri::not_met);
      std::string unidentified(json::string(member(a, "unidentified")).value_or("ignore"));
      if (!w) return w.error();
      if (!min_days) return min_days.error();
      if (!absent) return absent.error();
      if (unidentified != "ignore" && unidentified != "unknown")
        return fail(p + ".unidentified", "must be 'ignore' or 'unknown'");
      return make_medication(std::move(*f), active, *w, *min_days, *absent, unidentified == "unknown");
    }
    if (op == "distinct_therapies") {
      auto classes = class_set(a, "classes", p);
      auto one_of = class_set(a, "require_one_of", p);
      auto n = integer(a, "at_least", p, 1);
      auto w = window(a, p);
      if (!classes) return classes.error();
      if (!one_of) return one_of.error();
      if (!n) return n.error();
      if (!w) return w.error();
      return make_distinct_therapies(std::move(*classes), *n, std::move(*one_of), *w);
    }
    if (op == "gc_dose") {
      auto o = compare_op(a, p);
      auto mg = decimal(a, "mg_per_day", p);
      auto none = tri(a, "none", p, Tri::met);
      std::string route(json::string(member(a, "route")).value_or("any"));
      if (!o) return o.error();
      if (!mg) return mg.error();
      if (!none) return none.error();
      if (route != "any" && route != "oral") return fail(p + ".route", "must be 'oral' or 'any'");
      return make_gc_dose(route == "oral", *o, *mg, *none);
    }
    if (op == "gc_sustained") {
      auto mg = decimal(a, "mg_per_day", p);
      auto days = integer(a, "min_days", p, 1);
      auto w = window(a, p);
      if (!mg) return mg.error();
      if (!days) return days.error();
      if (!w) return w.error();
      return make_gc_sustained(*mg, *days, *w);
    }
    if (op == "score") {
      std::string name(json::string(member(a, "name")).value_or(""));
      auto n = integer(a, "at_least", p, 0);
      if (!n) return n.error();
      if (name == "sledai2k_lab") return make_score(ScoreName::sledai2k_lab, *n);
      if (name == "eular_acr_lab") return make_score(ScoreName::eular_acr_lab, *n);
      return fail(p + ".name", "unknown score '" + name + "' (sledai2k_lab, eular_acr_lab)");
    }
    return fail(p, "unknown operator '" + op + "'");
  }

  Result<Window> window(const json::Value& a, const std::string& p) {
    const json::Value* w = member(a, "window");
    if (!w) return Window{};  // ever
    if (auto s = json::string(w)) {
      if (*s == "ever") return Window{};
      return fail(p + ".window", "a window is \"ever\" or {\"days\"|\"weeks\"|\"months\"|\"years\": N}");
    }
    if (!w->IsObject() || w->MemberCount() != 1)
      return fail(p + ".window", "a window is \"ever\" or {\"days\"|\"weeks\"|\"months\"|\"years\": N}");
    std::string unit(w->MemberBegin()->name.GetString());
    auto n = json::number_text(&w->MemberBegin()->value);
    int value = n ? std::atoi(std::string(*n).c_str()) : -1;
    if (value <= 0 || value > 100000) return fail(p + ".window." + unit, "must be a positive whole number");
    Window out;
    out.n = value;
    if (unit == "days")
      out.unit = Window::Unit::days;
    else if (unit == "weeks")
      out.unit = Window::Unit::weeks;
    else if (unit == "months")
      out.unit = Window::Unit::months;
    else if (unit == "years")
      out.unit = Window::Unit::years;
    else
      return fail(p + ".window", "unknown unit '" + unit + "'");
    return out;
  }

  Status members_of(const std::string& op, const json::Value& a, const std::string& p) {
    static const std::map<std::string, std::vector<std::string_view>, std::less<>> allowed = {
        {"at_least", {"n", "of"}},
        {"review", {"when", "reason"}},
        {"age", {"min", "max"}},
        {"condition", {"concept", "window", "absent", "status"}},
        {"procedure", {"concept", "window", "absent", "status"}},
        {"coded", {"concept", "window", "absent", "status"}},
        {"observation", {"concept", "window", "select", "absent", "test", "preliminary"}},
        {"medication",
         {"classes", "ingredients", "active_at_as_of", "window", "min_days", "absent", "unidentified"}},
        {"distinct_therapies", {"classes", "require_one_of", "at_least", "window"}},
        {"gc_dose", {"op", "mg_per_day", "none", "route"}},
        {"gc_sustained", {"mg_per_day", "min_days", "window"}},
        {"score", {"name", "at_least"}},
    };
    auto it = allowed.find(op);
    if (it == allowed.end()) return {};
    if (auto st = known_members(&a, it->second, file_, p); !st) return st;
    if (op == "observation") {
      const json::Value* tv = member(a, "test");
      if (tv && member(*tv, "titre_at_least"))
        return known_members(tv, {"titre_at_least"}, file_, p + ".test");
      return known_members(tv, {"op", "value", "unit"}, file_, p + ".test");
    }
    return {};
  }

  Error fail(const std::string& path, const std::string& what) {
    return make_error(what, file_ + ": " + path);
  }

 private:
  Result<std::vector<NodePtr>> list(const json::Value& a, const std::string& p) {
    if (!a.IsArray() || a.Empty()) return fail(p, "expected a non-empty array of expressions");
    std::vector<NodePtr> out;
    for (rapidjson::SizeType i = 0; i < a.Size(); ++i) {
      auto k = node(a[i], p + "[" + std::to_string(i) + "]");
      if (!k) return k.error();
      out.push_back(*k);
    }
    return out;
  }

  Result<int> integer(const json::Value& a, const char* field, const std::string& p, int min,
                      bool optional = false) {
    auto n = json::number_text(member(a, field));
    if (!n) {
      if (optional) return 0;
      return fail(p + "." + field, "expected a whole number");
    }
    std::string s(*n);
    for (char c : s)
      if (c < '0' || c > '9') return fail(p + "." + field, "expected a whole number, got " + s);
    if (s.size() > 6) return fail(p + "." + field, "too large");
    int v = std::atoi(s.c_str());
    if (v < min) return fail(p + "." + field, "must be at least " + std::to_string(min));
    return v;
  }

  Result<Decimal> decimal(const json::Value& a, const char* field, const std::string& p) {
    auto s = json::string(member(a, field));
    if (!s) s = json::number_text(member(a, field));
    if (!s) return fail(p + "." + field, "expected a decimal");
    auto d = Decimal::parse(*s);
    if (!d || d->negative())
      return fail(p + "." + field, "'" + std::string(*s) + "' is not a non-negative decimal");
    return *d;
  }

  Result<Tri> tri(const json::Value& a, const char* field, const std::string& p, Tri dflt) {
    auto s = json::string(member(a, field));
    if (!s) return dflt;
    if (*s == "met") return Tri::met;
    if (*s == "not_met") return Tri::not_met;
    if (*s == "unknown") return Tri::unknown;
    return fail(p + "." + field, "must be met, not_met or unknown");
  }

  Result<std::string> concept_of(const json::Value& a, const std::string& p, terminology::ConceptKind want) {
    std::string c(json::string(member(a, "concept")).value_or(""));
    const auto* con = t_.find_concept(c);
    if (!con) return fail(p + ".concept", "unknown concept '" + c + "' (see mappings/concepts.json)");
    using K = terminology::ConceptKind;
    bool ok = want == K::observation ? con->kind == K::observation
              : want == K::any       ? con->kind != K::observation
              : want == K::condition ? (con->kind == K::condition || con->kind == K::any)
                                     : (con->kind == K::procedure || con->kind == K::any);
    if (!ok) return fail(p + ".concept", "concept '" + c + "' is not of a kind this operator reads");
    return c;
  }

  Result<terminology::CompareOp> compare_op(const json::Value& a, const std::string& p) {
    std::string s(json::string(member(a, "op")).value_or(""));
    auto o = terminology::parse_op(s);
    if (!o) return fail(p + ".op", "must be one of < <= > >= =");
    return *o;
  }

  Result<std::set<std::string>> class_set(const json::Value& a, const char* field, const std::string& p) {
    std::set<std::string> out;
    Status st;
    json::for_each(member(a, field), [&](std::size_t, const json::Value& c) {
      std::string s(json::string(&c).value_or(""));
      if (!t_.has_class(s)) st = fail(std::string(p) + "." + field, "unknown therapy class '" + s + "'");
      out.insert(s);
    });
    if (!st) return st.error();
    return out;
  }

  Result<DrugFilter> drugs(const json::Value& a, const std::string& p) {
    DrugFilter f;
    auto cl = class_set(a, "classes", p);
    if (!cl) return cl.error();
    f.classes = std::move(*cl);
    Status st;
    json::for_each(member(a, "ingredients"), [&](std::size_t, const json::Value& c) {
      std::string s(json::string(&c).value_or(""));
      if (!t_.ingredient(s)) st = fail(p + ".ingredients", "unknown ingredient '" + s + "'");
      f.ingredients.insert(s);
    });
    if (!st) return st.error();
    if (f.classes.empty() && f.ingredients.empty()) return fail(p, "needs classes or ingredients");
    return f;
  }

  Result<NodePtr> observation(const json::Value& a, const std::string& p) {
    auto c = concept_of(a, p, terminology::ConceptKind::observation);
    if (!c) return c.error();
    const auto* an = t_.analyte(t_.find_concept(*c)->analyte);
    auto w = window(a, p);
    if (!w) return w.error();
    std::string select(json::string(member(a, "select")).value_or("latest"));
    if (select != "latest" && select != "any") return fail(p + ".select", "must be 'latest' or 'any'");
    auto absent = tri(a, "absent", p, Tri::unknown);
    if (!absent) return absent.error();
    const json::Value* tv = member(a, "test");
    if (!tv) return fail(p + ".test", "missing");
    ObservationTest test;
    if (auto s = json::string(tv)) {
      if (*s == "positive" || *s == "negative")
        test = ReadingTest{*s == "positive"};
      else if (*s == "low" || *s == "high")
        test = LevelTest{*s == "low"};
      else
        return fail(p + ".test", "unknown test '" + std::string(*s) + "'");
    } else if (member(*tv, "titre_at_least")) {
      auto n = integer(*tv, "titre_at_least", p + ".test", 1);
      if (!n) return n.error();
      test = TitreTest{Decimal::from_int(*n)};
    } else {
      auto o = compare_op(*tv, p + ".test");
      auto v = decimal(*tv, "value", p + ".test");
      if (!o) return o.error();
      if (!v) return v.error();
      std::string unit(json::string(member(*tv, "unit")).value_or(an->canonical));
      auto it = an->units.find(unit);
      if (it == an->units.end())
        return fail(p + ".test.unit",
                    "unit '" + unit + "' is not a unit of analyte '" + an->id + "' (mappings/units.json)");
      test = CompareTest{*o, *v, it->second, unit};
    }
    if (std::holds_alternative<CompareTest>(test) && an->canonical.empty())
      return fail(p + ".test", "analyte '" + an->id + "' has no units to compare (use positive/negative)");
    // Whether a preliminary result may decide: the study team's call (default: it may, as a final one).
    std::string prelim(json::string(member(a, "preliminary")).value_or("decides"));
    if (prelim != "decides" && prelim != "unknown")
      return fail(p + ".preliminary", "must be 'decides' or 'unknown'");
    return make_observation(*c, *w, select == "latest", std::move(test), *absent, prelim == "decides");
  }

  const terminology::Terminology& t_;
  std::string file_;
};

double number_or(const json::Value* v, double dflt) {
  if (auto n = json::number_text(v)) return std::atof(std::string(*n).c_str());
  return dflt;
}

}  // namespace

Result<Trial> Trial::load(const std::filesystem::path& file, const terminology::Terminology& terms) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error("cannot read the trial definition", file.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  auto t = parse(ss.str(), file.string(), terms);
  if (t) t->file = file.string();
  return t;
}

Result<Trial> Trial::parse(std::string_view text, const std::string& name,
                           const terminology::Terminology& terms) {
  json::Document doc;
  json::ParseError err;
  if (!json::parse(text, doc, err))
    return make_error(err.message, name + ":" + std::to_string(err.line) + ":" + std::to_string(err.column));
  Trial t;
  t.sha256 = sha256_hex(text);
  t.file = name;
  if (json::string(member(doc, "format")).value_or("") != "cohort-finder/trial@1")
    return make_error("format must be \"cohort-finder/trial@1\"", name);
  {
    const json::Value* sc = member(doc, "scores");
    const json::Value* r = member(doc, "ranking");
    for (const Status& st :
         {known_members(&doc, {"format", "id", "version", "title", "notes", "scores", "ranking", "criteria"},
                        name, "(top)"),
          known_members(sc, {"sledai2k_lab", "eular_acr_lab"}, name, "scores"),
          known_members(member(sc, "sledai2k_lab"), {"window"}, name, "scores.sledai2k_lab"),
          known_members(member(sc, "eular_acr_lab"), {}, name, "scores.eular_acr_lab"),
          known_members(r,
                        {"per_criterion_in_favour", "per_sledai2k_point", "per_eular_acr_point", "recency"},
                        name, "ranking"),
          known_members(member(r, "recency"), {"weight", "half_life_days", "concepts"}, name,
                        "ranking.recency")})
      if (!st) return st.error();
  }
  t.id = std::string(json::string(member(doc, "id")).value_or(""));
  t.version = std::string(json::string(member(doc, "version")).value_or(""));
  t.title = std::string(json::string(member(doc, "title")).value_or(""));
  if (t.id.empty() || t.version.empty()) return make_error("a trial needs an id and a version", name);
  json::for_each(member(doc, "notes"), [&](std::size_t, const json::Value& n) {
    if (auto s = json::string(&n)) t.notes.emplace_back(*s);
  });
  Compiler comp(terms, name);
  if (const json::Value* sc = member(member(doc, "scores"), "sledai2k_lab")) {
    auto w = comp.window(*sc, "scores.sledai2k_lab");
    if (!w) return w.error();
    if (member(*sc, "window")) t.sledai_window = *w;
  }
  if (const json::Value* r = member(doc, "ranking")) {
    const Ranking dflt;
    t.ranking.per_criterion_in_favour =
        number_or(member(r, "per_criterion_in_favour"), dflt.per_criterion_in_favour);
    t.ranking.per_sledai2k_point = number_or(member(r, "per_sledai2k_point"), dflt.per_sledai2k_point);
    t.ranking.per_eular_acr_point = number_or(member(r, "per_eular_acr_point"), dflt.per_eular_acr_point);
    if (const json::Value* rc = member(r, "recency")) {
      t.ranking.recency_weight = number_or(member(rc, "weight"), dflt.recency_weight);
      t.ranking.recency_half_life_days = number_or(member(rc, "half_life_days"), dflt.recency_half_life_days);
      if (t.ranking.recency_half_life_days <= 0)
        return make_error("half_life_days must be positive", name + ": ranking");
      Status st;
      json::for_each(member(rc, "concepts"), [&](std::size_t, const json::Value& c) {
        std::string s(json::string(&c).value_or(""));
        if (!terms.find_concept(s))
          st = make_error("unknown concept '" + s + "'", name + ": ranking.recency.concepts");
        t.ranking.recency_concepts.push_back(s);
      });
      if (!st) return st.error();
    }
  }
  const json::Value* list = member(doc, "criteria");
  if (!json::is_array(list) || list->Empty()) return make_error("criteria must be a non-empty array", name);
  std::set<std::string> ids;
  for (rapidjson::SizeType i = 0; i < list->Size(); ++i) {
    const json::Value& c = (*list)[i];
    Criterion cr;
    cr.id = std::string(json::string(member(c, "id")).value_or(""));
    const std::string where =
        "criteria[" + std::to_string(i) + "]" + (cr.id.empty() ? "" : " (" + cr.id + ")");
    if (cr.id.empty()) return make_error("missing id", name + ": " + where);
    if (!ids.insert(cr.id).second) return make_error("duplicate criterion id", name + ": " + where);
    if (auto st = known_members(&c, {"id", "kind", "label", "check_next", "analogue", "expr", "manual"}, name,
                                where);
        !st)
      return st.error();
    std::string kind(json::string(member(c, "kind")).value_or(""));
    if (kind != "inclusion" && kind != "exclusion")
      return make_error("kind must be inclusion or exclusion", name + ": " + where + ".kind");
    cr.inclusion = kind == "inclusion";
    cr.label = std::string(json::string(member(c, "label")).value_or(""));
    if (cr.label.empty()) return make_error("missing label", name + ": " + where + ".label");
    cr.check_next = std::string(json::string(member(c, "check_next")).value_or(""));
    cr.analogue = json::boolean(member(c, "analogue")).value_or(false);
    const json::Value* expr = member(c, "expr");
    auto manual = json::string(member(c, "manual"));
    if ((expr != nullptr) == manual.has_value())
      return make_error("a criterion has exactly one of 'expr' or 'manual'", name + ": " + where);
    if (manual) {
      cr.manual = std::string(*manual);
      cr.expr = make_manual(cr.manual);
    } else {
      auto n = comp.node(*expr, where + ".expr");
      if (!n) return n.error();
      cr.expr = *n;
    }
    t.criteria.push_back(std::move(cr));
  }
  return t;
}

std::vector<CriterionResult> Trial::evaluate(Context& ctx) const {
  std::vector<CriterionResult> out;
  out.reserve(criteria.size());
  for (const auto& c : criteria) {
    NodeResult r = c.expr->eval(ctx);
    CriterionResult cr;
    cr.id = c.id;
    cr.reason = std::move(r.reason);
    cr.evidence = std::move(r.evidence);
    cr.outcome = r.value == Tri::met       ? Outcome::met
                 : r.value == Tri::not_met ? Outcome::not_met
                 : r.data_gap              ? Outcome::unknown
                                           : Outcome::manual;
    out.push_back(std::move(cr));
  }
  return out;
}

}  // namespace cf::criteria
