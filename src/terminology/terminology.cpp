#include "terminology/terminology.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <fstream>
#include <set>
#include <span>
#include <sstream>
#include <unordered_map>

#include "core/sha256.hpp"
#include "core/text.hpp"
#include "json/json.hpp"

namespace cf::terminology {

namespace fs = std::filesystem;
using json::member;

bool kind_fits(ConceptKind k, fhir::ResourceType t) {
  switch (k) {
    case ConceptKind::observation:
      return t == fhir::ResourceType::observation;
    case ConceptKind::condition:
      return t == fhir::ResourceType::condition;
    case ConceptKind::procedure:
      return t == fhir::ResourceType::procedure;
    case ConceptKind::any:
      return t == fhir::ResourceType::condition || t == fhir::ResourceType::procedure;
  }
  return false;
}

bool Conversion::identity() const {
  return add.is_zero() && multiply == Decimal::from_int(1) && divide == Decimal::from_int(1);
}

struct Terminology::Rule {
  enum class Kind { exact, prefix, range } kind = Kind::exact;
  std::string lo, hi;  // code, prefix, or range bounds
  std::string concept_id;
  bool low_confidence = false;
  bool exclude = false;
  std::string rule;
};

struct MedEntry {
  std::string ingredient;
  std::optional<Decimal> strength_mg;
  std::string rule;
};

struct Index {
  std::unordered_map<std::string, std::vector<Terminology::Rule>> exact;     // "url|code"
  std::unordered_map<std::string, std::vector<Terminology::Rule>> patterns;  // url -> prefix/range rules
  std::vector<std::pair<std::string, std::string>> texts;      // lower-case substring -> concept
  std::unordered_map<std::string, MedEntry> meds;              // "url|code"
  std::vector<std::pair<std::string, std::string>> med_names;  // lower-case substring -> ingredient
  // The indexes into med_names of the names starting with each byte (an empty name under 256): a text is
  // searched in one pass for all of them, not once per name.
  std::array<std::vector<std::uint32_t>, 257> med_names_by_first;
  std::set<std::string> med_atc_groups;  // "H02", "P01", "L04" of mapped ingredients
  std::set<std::string> icd_urls;
  std::set<std::string> rxnorm_urls, atc_urls;  // for names_other_drug
};

namespace {

// "url|code", built in a buffer kept per thread: matching runs for every kept resource, twice.
const std::string& lookup_key(std::string_view url, std::string_view code) {
  thread_local std::string k;
  k.assign(url);
  k += '|';
  k += code;
  return k;
}

// The same key as a string of its own, for the index built at load time.
std::string key(std::string_view url, std::string_view code) {
  return lookup_key(url, code);
}

Result<std::string> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error("cannot read mapping file", p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Reads the mapping files; every error names the file and the element.
class Loader {
 public:
  explicit Loader(Terminology& t) : t_(t), idx_(std::make_shared<Index>()) { t_.index_ = idx_; }

  Status load(const fs::path& dir) {
    for (auto name : {"systems.json", "concepts.json", "units.json", "medications.json"}) {
      auto st = load_file(dir / name);
      if (!st) return st;
    }
    std::vector<fs::path> local;
    std::error_code ec;
    if (fs::is_directory(dir / "local", ec))
      for (const auto& e : fs::directory_iterator(dir / "local", ec))
        if (e.path().extension() == ".json") local.push_back(e.path());
    std::sort(local.begin(), local.end());
    for (const auto& p : local) {
      auto st = load_file(p);
      if (!st) return st;
    }
    for (std::size_t k = 0; k < idx_->med_names.size(); ++k) {
      const std::string& name = idx_->med_names[k].first;
      idx_->med_names_by_first[name.empty() ? 256 : static_cast<unsigned char>(name[0])].push_back(
          static_cast<std::uint32_t>(k));
    }
    return Status::success();
  }

 private:
  Status load_file(const fs::path& p) {
    auto text = read_file(p);
    if (!text) return text.error();
    t_.files_.emplace_back(p.filename() == p ? p.string() : p.lexically_normal().string(), sha256_hex(*text));
    json::Document doc;
    json::ParseError err;
    file_ = p.string();
    if (!json::parse(*text, doc, err))
      return make_error(err.message,
                        file_ + ":" + std::to_string(err.line) + ":" + std::to_string(err.column));
    std::string format(json::string(member(doc, "format")).value_or(""));
    if (format == "cohort-finder/systems@1") return systems(doc);
    if (format == "cohort-finder/concepts@1") return concepts(doc);
    if (format == "cohort-finder/units@1") return units(doc);
    if (format == "cohort-finder/medications@1") return medications(doc);
    if (format == "cohort-finder/local-codes@1") return local_codes(doc);
    return fail("format", "unknown format '" + format + "'");
  }

  Status fail(const std::string& where, const std::string& what) {
    return make_error(what, file_ + " " + where);
  }

  std::string str(const json::Value& obj, const char* field) {
    return std::string(json::string(member(obj, field)).value_or(""));
  }

  Status systems(const json::Document& doc) {
    const json::Value* s = member(doc, "systems");
    if (!json::is_object(s)) return fail("systems", "expected an object");
    for (auto it = s->MemberBegin(); it != s->MemberEnd(); ++it) {
      std::string name(it->name.GetString(), it->name.GetStringLength());
      std::vector<std::string> urls;
      json::for_each(&it->value, [&](std::size_t, const json::Value& u) {
        if (auto x = json::string(&u)) urls.emplace_back(*x);
      });
      if (urls.empty()) return fail("systems." + name, "needs at least one URL");
      if (name.rfind("icd10", 0) == 0) idx_->icd_urls.insert(urls.begin(), urls.end());
      if (name == "rxnorm") idx_->rxnorm_urls.insert(urls.begin(), urls.end());
      if (name == "atc") idx_->atc_urls.insert(urls.begin(), urls.end());
      t_.systems_[name] = std::move(urls);
    }
    return Status::success();
  }

  Result<const std::vector<std::string>*> urls(const std::string& system, const std::string& where) {
    auto it = t_.systems_.find(system);
    if (it != t_.systems_.end()) return &it->second;
    // A full URL may be used directly.
    if (system.find("://") != std::string::npos || system.rfind("urn:", 0) == 0) {
      auto& v = extra_urls_[system];
      v = {system};
      return &v;
    }
    return make_error("unknown code system '" + system + "' (add it to systems.json)", file_ + " " + where);
  }

  // A code the map marks `"verified": false` was written from memory and is to be checked (CRITERIA.md 6):
  // every decision that rests on it says so in its rule, where the coordinator reads the evidence, and `run
  // --check` lists it.
  std::string rule_for(std::string rule, const json::Value& spec) {
    const auto v = json::boolean(member(spec, "verified"));
    if (v && !*v) {
      rule += kUnverifiedNote;
      t_.unverified_.push_back(rule);
    }
    return rule;
  }

  Status add_rule(const json::Value& spec, const std::string& concept_id, bool exclude,
                  const std::string& where) {
    std::string system = str(spec, "system");
    auto u = urls(system, where + ".system");
    if (!u) return u.error();
    Terminology::Rule r;
    r.concept_id = concept_id;
    r.exclude = exclude;
    r.low_confidence = str(spec, "confidence") == "low";
    std::string desc;
    if (auto c = json::string(member(spec, "code"))) {
      r.kind = Terminology::Rule::Kind::exact;
      r.lo = std::string(*c);
      desc = system + " " + r.lo;
    } else if (auto pfx = json::string(member(spec, "prefix"))) {
      r.kind = Terminology::Rule::Kind::prefix;
      r.lo = std::string(*pfx);
      desc = system + " prefix " + r.lo;
    } else if (const json::Value* rg = member(spec, "range"); json::is_array(rg) && rg->Size() == 2) {
      r.kind = Terminology::Rule::Kind::range;
      r.lo = std::string(json::string(&(*rg)[0]).value_or(""));
      r.hi = std::string(json::string(&(*rg)[1]).value_or(""));
      if (r.lo.empty() || r.lo.size() != r.hi.size())
        return fail(where + ".range", "needs two codes of equal length");
      desc = system + " " + r.lo + "-" + r.hi;
    } else {
      return fail(where, "needs code, prefix or range");
    }
    r.rule = rule_for(
        fs::path(file_).filename().string() + " " + concept_id + (exclude ? " excludes " : ": ") + desc,
        spec);
    for (const auto& url : **u) {
      if (r.kind == Terminology::Rule::Kind::exact)
        idx_->exact[key(url, r.lo)].push_back(r);
      else
        idx_->patterns[url].push_back(r);
    }
    return Status::success();
  }

  Status concepts(const json::Document& doc) {
    const json::Value* list = member(doc, "concepts");
    if (!json::is_array(list)) return fail("concepts", "expected an array");
    for (std::size_t i = 0; i < list->Size(); ++i) {
      const json::Value& c = (*list)[static_cast<rapidjson::SizeType>(i)];
      const std::string where = "concepts[" + std::to_string(i) + "]";
      Concept con;
      con.id = str(c, "id");
      if (con.id.empty()) return fail(where + ".id", "missing");
      if (t_.concepts_.count(con.id)) return fail(where + ".id", "duplicate concept '" + con.id + "'");
      con.label = str(c, "label");
      std::string kind = str(c, "kind");
      if (kind == "observation")
        con.kind = ConceptKind::observation;
      else if (kind == "condition")
        con.kind = ConceptKind::condition;
      else if (kind == "procedure")
        con.kind = ConceptKind::procedure;
      else if (kind == "any")
        con.kind = ConceptKind::any;
      else
        return fail(where + ".kind", "must be observation, condition, procedure or any");
      con.analyte = str(c, "analyte");
      if (con.kind == ConceptKind::observation && con.analyte.empty())
        return fail(where + ".analyte", "an observation concept needs an analyte");
      Status st;
      json::for_each(member(c, "codes"), [&](std::size_t j, const json::Value& spec) {
        if (st) st = add_rule(spec, con.id, false, where + ".codes[" + std::to_string(j) + "]");
      });
      json::for_each(member(c, "exclude"), [&](std::size_t j, const json::Value& spec) {
        if (st) st = add_rule(spec, con.id, true, where + ".exclude[" + std::to_string(j) + "]");
      });
      if (!st) return st;
      // An empty text would be found in every text (and the line filter, which cannot look for it, would
      // skip lines the terminology then matches): refused.
      json::for_each(member(c, "text"), [&](std::size_t j, const json::Value& t) {
        auto s = json::string(&t);
        if (st && s && s->empty()) st = fail(where + ".text[" + std::to_string(j) + "]", "empty text");
        if (st && s) idx_->texts.emplace_back(to_lower_ascii(*s), con.id);
      });
      if (!st) return st;
      t_.concepts_[con.id] = std::move(con);
    }
    return Status::success();
  }

  // A field written as a string or as a JSON number: its text.
  static std::optional<std::string_view> scalar_text(const json::Value& obj, const char* field) {
    auto s = json::string(member(obj, field));
    return s ? s : json::number_text(member(obj, field));
  }

  Result<Decimal> decimal(const json::Value& obj, const char* field, const std::string& where,
                          const char* dflt) {
    auto s = scalar_text(obj, field);
    if (!s) s = dflt;
    auto d = Decimal::parse(*s);
    if (!d)
      return make_error("'" + std::string(*s) + "' is not a decimal", file_ + " " + where + "." + field);
    return *d;
  }

  // "1.25" (mg of prednisone per mg) or "5/0.75" (5 mg of prednisone per 0.75 mg), both parts above zero.
  Result<PrednisoneEquivalence> equivalence(const json::Value& obj, const std::string& where) {
    const std::string at = file_ + " " + where + ".prednisone_mg_per_mg";
    const auto s = scalar_text(obj, "prednisone_mg_per_mg");
    if (!s) return make_error("expected a decimal or 'prednisone mg/drug mg' text", at);
    const std::size_t slash = s->find('/');
    auto mg = Decimal::parse(s->substr(0, slash));
    auto per = slash == std::string_view::npos ? Decimal::from_int(1) : Decimal::parse(s->substr(slash + 1));
    const Decimal zero;
    if (!mg || !per || *mg <= zero || *per <= zero)
      return make_error("'" + std::string(*s) + "' is not a positive decimal or 'prednisone mg/drug mg'", at);
    return PrednisoneEquivalence{*mg, *per};
  }

  Status units(const json::Document& doc) {
    if (const json::Value* a = member(doc, "aliases"); json::is_object(a))
      for (auto it = a->MemberBegin(); it != a->MemberEnd(); ++it)
        if (auto to = json::string(&it->value))
          t_.unit_aliases_[std::string(it->name.GetString(), it->name.GetStringLength())] = std::string(*to);
    const json::Value* list = member(doc, "analytes");
    if (!json::is_object(list)) return fail("analytes", "expected an object");
    for (auto it = list->MemberBegin(); it != list->MemberEnd(); ++it) {
      Analyte an;
      an.id.assign(it->name.GetString(), it->name.GetStringLength());
      const std::string where = "analytes." + an.id;
      const json::Value& a = it->value;
      an.canonical = str(a, "canonical");
      an.interpretation = str(a, "interpretation");
      if (const json::Value* us = member(a, "units"); json::is_object(us)) {
        for (auto u = us->MemberBegin(); u != us->MemberEnd(); ++u) {
          std::string unit(u->name.GetString(), u->name.GetStringLength());
          Conversion conv;
          auto add = decimal(u->value, "add", where + ".units." + unit, "0");
          auto mul = decimal(u->value, "multiply", where + ".units." + unit, "1");
          auto div = decimal(u->value, "divide", where + ".units." + unit, "1");
          if (!add) return add.error();
          if (!mul) return mul.error();
          if (!div) return div.error();
          if (div->is_zero() || div->negative() || mul->is_zero() || mul->negative())
            return fail(where + ".units." + unit, "multiply and divide must be positive");
          conv.add = *add;
          conv.multiply = *mul;
          conv.divide = *div;
          an.units[unit] = conv;
        }
        if (!an.canonical.empty() && !an.units.count(an.canonical))
          return fail(where + ".canonical", "the canonical unit must be one of the units");
      }
      if (const json::Value* r = member(a, "default_range"); json::is_object(r)) {
        auto lo = decimal(*r, "low", where + ".default_range", "0");
        auto hi = decimal(*r, "high", where + ".default_range", "0");
        if (!lo || !hi) return fail(where + ".default_range", "low and high must be decimals");
        an.default_low = *lo;
        an.default_high = *hi;
        an.default_range_note = str(*r, "note");
      }
      if (an.canonical.empty() && an.interpretation.empty())
        return fail(where, "needs a canonical unit or an interpretation");
      t_.analytes_[an.id] = std::move(an);
    }
    for (const auto& [id, c] : t_.concepts_)
      if (c.kind == ConceptKind::observation && !t_.analytes_.count(c.analyte))
        return make_error(
            "concept '" + id + "' names analyte '" + c.analyte + "' that units.json does not define", file_);
    return Status::success();
  }

  Status add_med_code(const json::Value& spec, const std::string& ingredient, std::optional<Decimal> strength,
                      const std::string& where) {
    std::string system = str(spec, "system");
    std::string code = str(spec, "code");
    if (code.empty()) return fail(where + ".code", "missing");
    auto u = urls(system, where + ".system");
    if (!u) return u.error();
    const std::string rule =
        rule_for(fs::path(file_).filename().string() + " " + ingredient + ": " + system + " " + code, spec);
    for (const auto& url : **u) idx_->meds[key(url, code)] = MedEntry{ingredient, strength, rule};
    if (system == "atc" && code.size() >= 3) idx_->med_atc_groups.insert(code.substr(0, 3));
    return Status::success();
  }

  Status medications(const json::Document& doc) {
    if (const json::Value* cl = member(doc, "classes"); json::is_object(cl))
      for (auto it = cl->MemberBegin(); it != cl->MemberEnd(); ++it)
        t_.classes_[std::string(it->name.GetString(), it->name.GetStringLength())] =
            std::string(json::string(&it->value).value_or(""));
    const json::Value* list = member(doc, "ingredients");
    if (!json::is_array(list)) return fail("ingredients", "expected an array");
    for (std::size_t i = 0; i < list->Size(); ++i) {
      const json::Value& m = (*list)[static_cast<rapidjson::SizeType>(i)];
      const std::string where = "ingredients[" + std::to_string(i) + "]";
      Ingredient ing;
      ing.id = str(m, "id");
      if (ing.id.empty()) return fail(where + ".id", "missing");
      Status st;
      json::for_each(member(m, "classes"), [&](std::size_t, const json::Value& c) {
        std::string cls(json::string(&c).value_or(""));
        if (!t_.classes_.count(cls)) st = fail(where + ".classes", "unknown class '" + cls + "'");
        ing.classes.push_back(cls);
      });
      if (!st) return st;
      if (member(m, "prednisone_mg_per_mg")) {
        auto f = equivalence(m, where);
        if (!f) return f.error();
        ing.prednisone_mg_per_mg = *f;
      }
      json::for_each(member(m, "codes"), [&](std::size_t j, const json::Value& spec) {
        if (st) st = add_med_code(spec, ing.id, std::nullopt, where + ".codes[" + std::to_string(j) + "]");
      });
      if (!st) return st;
      json::for_each(member(m, "names"), [&](std::size_t j, const json::Value& n) {
        auto s = json::string(&n);
        if (st && s && s->empty()) st = fail(where + ".names[" + std::to_string(j) + "]", "empty name");
        if (st && s) idx_->med_names.emplace_back(to_lower_ascii(*s), ing.id);
      });
      if (!st) return st;
      t_.ingredients_[ing.id] = std::move(ing);
    }
    return products(member(doc, "products"), "products");
  }

  Status products(const json::Value* list, const std::string& field) {
    Status st;
    json::for_each(list, [&](std::size_t j, const json::Value& p) {
      if (!st) return;
      const std::string where = field + "[" + std::to_string(j) + "]";
      std::string ing = str(p, "ingredient");
      if (!t_.ingredients_.count(ing)) {
        st = fail(where + ".ingredient", "unknown ingredient '" + ing + "'");
        return;
      }
      std::optional<Decimal> strength;
      if (member(p, "strength_mg")) {
        auto s = decimal(p, "strength_mg", where, "0");
        if (!s) {
          st = s.error();
          return;
        }
        strength = *s;
      }
      st = add_med_code(p, ing, strength, where);
    });
    return st;
  }

  Status local_codes(const json::Document& doc) {
    Status st;
    json::for_each(member(doc, "concept_codes"), [&](std::size_t j, const json::Value& c) {
      if (!st) return;
      std::string concept_id = str(c, "concept");
      if (!t_.concepts_.count(concept_id)) {
        st = fail("concept_codes[" + std::to_string(j) + "].concept", "unknown concept '" + concept_id + "'");
        return;
      }
      st = add_rule(c, concept_id, false, "concept_codes[" + std::to_string(j) + "]");
    });
    if (!st) return st;
    json::for_each(member(doc, "concept_text"), [&](std::size_t j, const json::Value& c) {
      std::string concept_id = str(c, "concept");
      if (!st) return;
      if (!t_.concepts_.count(concept_id))
        st = fail("concept_text[" + std::to_string(j) + "].concept", "unknown concept '" + concept_id + "'");
      else if (str(c, "text").empty())
        st = fail("concept_text[" + std::to_string(j) + "].text", "empty text");
      else
        idx_->texts.emplace_back(to_lower_ascii(str(c, "text")), concept_id);
    });
    if (!st) return st;
    return products(member(doc, "medication_codes"), "medication_codes");
  }

  Terminology& t_;
  std::shared_ptr<Index> idx_;
  std::string file_;
  std::map<std::string, std::vector<std::string>> extra_urls_;
};

std::uint64_t Terminology::next_instance() {
  static std::atomic<std::uint64_t> n{0};
  return ++n;
}

Result<std::shared_ptr<const Terminology>> Terminology::load(const fs::path& dir) {
  auto t = std::make_shared<Terminology>();
  Loader loader(*t);
  auto st = loader.load(dir);
  if (!st) return st.error();
  return std::shared_ptr<const Terminology>(std::move(t));
}

const Concept* Terminology::find_concept(std::string_view id) const {
  auto it = concepts_.find(std::string(id));
  return it == concepts_.end() ? nullptr : &it->second;
}
std::vector<std::string> Terminology::concept_ids(ConceptKind kind) const {
  std::vector<std::string> out;
  for (const auto& [id, c] : concepts_)
    if (c.kind == kind) out.push_back(id);
  return out;
}

const Analyte* Terminology::analyte(std::string_view id) const {
  auto it = analytes_.find(std::string(id));
  return it == analytes_.end() ? nullptr : &it->second;
}
const Ingredient* Terminology::ingredient(std::string_view id) const {
  auto it = ingredients_.find(std::string(id));
  return it == ingredients_.end() ? nullptr : &it->second;
}

namespace {

bool rule_matches(const Terminology::Rule& r, std::string_view code) {
  switch (r.kind) {
    case Terminology::Rule::Kind::exact:
      return code == r.lo;
    case Terminology::Rule::Kind::prefix:
      return code.substr(0, r.lo.size()) == r.lo;
    case Terminology::Rule::Kind::range:
      if (code.size() < r.lo.size()) return false;
      return code.substr(0, r.lo.size()) >= r.lo && code.substr(0, r.hi.size()) <= r.hi;
  }
  return false;
}

// China's national ICD-10 editions (GB/T 14396, the national clinical edition) extend the WHO code with more
// characters after its fourth ("M32.900", "M32.101", "M32.100x002"): their WHO code is the first five.
bool chinese_icd10(const std::string& system) {
  return system == "urn:oid:2.16.156.10011.2.3.3.11";
}

// ICD-10 codes are sometimes sent without the dot ("M329"), with a dagger or asterisk mark ("M32.1+"), or in
// a national extension (above).
std::string normalise_code(const Index& idx, const std::string& system, const std::string& code) {
  if (!idx.icd_urls.count(system)) return code;
  std::string c = code;
  while (!c.empty() && (c.back() == '+' || c.back() == '*')) c.pop_back();
  static const std::string kDagger = "\xE2\x80\xA0";
  if (c.size() > kDagger.size() && c.compare(c.size() - kDagger.size(), kDagger.size(), kDagger) == 0)
    c.resize(c.size() - kDagger.size());
  if (c.size() > 3 && c.find('.') == std::string::npos) c = c.substr(0, 3) + "." + c.substr(3);
  if (chinese_icd10(system) && c.size() > 5 && c[3] == '.' && c[4] >= '0' && c[4] <= '9') c.resize(5);
  return c;
}

}  // namespace

// Calls found(concept, low_confidence, coding, rule, text, needle) for every way the CodeableConcept means a
// concept: by a coding (`coding` and `rule` set) or, after all codings, by a text pattern (`text`, lower
// case, and `needle` set; never for a concept a coding excludes). Stops as soon as found() returns true.
template <class Found>
void Terminology::visit_matches(const fhir::CodeableConcept& cc, Found&& found) const {
  std::set<std::string> excluded;  // concepts a coding explicitly excludes: their text must not match either
  for (const auto& cd : cc.codings) {
    if (cd.code.empty() || cd.system.empty()) continue;
    const std::string code = normalise_code(*index_, cd.system, cd.code);
    thread_local std::vector<const Rule*> hits;  // reused: this runs for every kept resource, twice
    hits.clear();
    if (auto it = index_->exact.find(lookup_key(cd.system, code)); it != index_->exact.end())
      for (const auto& r : it->second) hits.push_back(&r);
    if (auto it = index_->patterns.find(cd.system); it != index_->patterns.end())
      for (const auto& r : it->second)
        if (rule_matches(r, code)) hits.push_back(&r);
    for (std::size_t i = 0; i < hits.size(); ++i) {
      const Rule* r = hits[i];
      if (r->exclude) {
        excluded.insert(r->concept_id);
        continue;
      }
      bool excluded_here = std::any_of(hits.begin(), hits.end(), [&](const Rule* x) {
        return x->exclude && x->concept_id == r->concept_id;
      });
      if (excluded_here) continue;
      if (found(find_concept(r->concept_id), r->low_confidence, &cd, r, std::string_view(),
                std::string_view()))
        return;
    }
  }
  if (index_->texts.empty()) return;
  // Which needles (indexes into index_->texts, ascending) each lower-cased text contains, remembered per
  // thread: the same displays come back on resource after resource, and trying every needle on each is the
  // dearest part of matching. Cleared here only, so the references taken below stay valid (an unordered_map
  // keeps its elements in place when it grows).
  struct Seen {
    std::uint64_t terms = 0;
    std::unordered_map<std::string, std::vector<std::uint32_t>> needles;
  };
  thread_local Seen seen;
  if (seen.terms != instance_ || seen.needles.size() >= 4096) {
    seen.needles.clear();
    seen.terms = instance_;
  }
  thread_local std::string lowered;
  struct Text {
    const std::string* text;  // the key in `seen`
    const std::vector<std::uint32_t>* needles;
    std::size_t next = 0;  // position in *needles
  };
  thread_local std::vector<Text> texts;  // reused, like `hits`
  texts.clear();
  auto put = [&](const std::string& s) {
    lowered.assign(s);
    for (auto& c : lowered)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    auto [it, fresh] = seen.needles.try_emplace(lowered);
    if (fresh)
      for (std::uint32_t i = 0; i < index_->texts.size(); ++i) {
        const std::string& needle = index_->texts[i].first;
        if (!needle.empty() && lowered.find(needle) != std::string::npos) it->second.push_back(i);
      }
    texts.push_back({&it->first, &it->second});
  };
  if (!cc.text.empty()) put(cc.text);
  for (const auto& cd : cc.codings)
    if (!cd.display.empty()) put(cd.display);
  // Needle by needle in index order, the first text (in the order above) that contains it: merged from the
  // texts' ascending lists.
  while (true) {
    std::uint32_t i = UINT32_MAX;
    for (const auto& t : texts)
      if (t.next < t.needles->size()) i = std::min(i, (*t.needles)[t.next]);
    if (i == UINT32_MAX) return;
    const Text* first = nullptr;
    for (auto& t : texts)
      if (t.next < t.needles->size() && (*t.needles)[t.next] == i) {
        if (!first) first = &t;
        ++t.next;
      }
    const auto& [needle, cid] = index_->texts[i];
    if (excluded.count(cid)) continue;
    if (found(find_concept(cid), true, nullptr, nullptr, std::string_view(*first->text),
              std::string_view(needle)))
      return;
  }
}

namespace {

// A CodeableConcept as a cache key: every string matching reads (each coding's system, code and display, then
// the text), each after its length, so that no two different concepts share a key.
void concept_key(const fhir::CodeableConcept& cc, std::string& key) {
  key.clear();
  auto add = [&](const std::string& s) {
    const auto n = static_cast<std::uint32_t>(s.size());
    key.append(reinterpret_cast<const char*>(&n), sizeof n);
    key += s;
  };
  const auto codings = static_cast<std::uint32_t>(cc.codings.size());
  key.append(reinterpret_cast<const char*>(&codings), sizeof codings);
  for (const auto& cd : cc.codings) {
    add(cd.system);
    add(cd.code);
    add(cd.display);
  }
  add(cc.text);
}

}  // namespace

// A hospital's resources repeat a few thousand codings (with their displays) a million times, and matching
// one (codes normalised and looked up, texts searched for patterns) costs thousands of instructions: the
// matches of the last few thousand distinct concepts are remembered per thread. Equal concepts match equally,
// so the result is the same either way.
const std::vector<Match>& Terminology::remembered_matches(const fhir::CodeableConcept& cc) const {
  struct Cache {
    std::uint64_t terms = 0;
    std::unordered_map<std::string, std::vector<Match>> found;
  };
  thread_local Cache cache;
  thread_local std::string key;
  if (cache.terms != instance_ || cache.found.size() >= 4096) {
    cache.found.clear();
    cache.terms = instance_;
  }
  concept_key(cc, key);
  if (auto it = cache.found.find(key); it != cache.found.end()) return it->second;
  std::vector<Match> out;
  visit_matches(cc, [&](const Concept* con, bool low, const fhir::Coding* cd, const Rule* r,
                        std::string_view text, std::string_view needle) {
    Match m = cd ? Match{con, low, cd->system, cd->code, cd->display, r->rule}
                 : Match{con, low, "", "", std::string(text), "text contains '" + std::string(needle) + "'"};
    for (auto& existing : out)
      if (existing.con == m.con) {
        if (existing.low_confidence && !m.low_confidence) existing = std::move(m);
        return false;
      }
    out.push_back(std::move(m));
    return false;
  });
  return cache.found.emplace(key, std::move(out)).first->second;
}

std::vector<Match> Terminology::match(const fhir::CodeableConcept& cc) const {
  return remembered_matches(cc);
}

bool Terminology::means_any(const fhir::CodeableConcept& cc, fhir::ResourceType type) const {
  for (const auto& m : remembered_matches(cc))
    if (m.con && kind_fits(m.con->kind, type)) return true;
  return false;
}

std::optional<MedicationMatch> Terminology::match_medication(const fhir::CodeableConcept& cc) const {
  for (const auto& cd : cc.codings) {
    auto it = index_->meds.find(lookup_key(cd.system, cd.code));
    if (it == index_->meds.end()) continue;
    MedicationMatch m;
    m.ingredient = ingredient(it->second.ingredient);
    m.strength_mg = it->second.strength_mg;
    m.system = cd.system;
    m.code = cd.code;
    m.display = cd.display;
    m.rule = it->second.rule;
    return m;
  }
  std::vector<std::string> texts;
  if (!cc.text.empty()) texts.push_back(to_lower_ascii(cc.text));
  for (const auto& cd : cc.codings)
    if (!cd.display.empty()) texts.push_back(to_lower_ascii(cd.display));
  // The longest name found wins: "methylprednisolone" holds "prednisolone", "hydrocortisone" "cortisone".
  // Between names of one length, the first in the mappings; its text is the first that holds it.
  const std::pair<std::string, std::string>* best = nullptr;
  std::size_t best_k = 0;
  const std::string* best_text = nullptr;
  auto consider = [&](std::uint32_t k, const std::string& t) {
    const auto& name = index_->med_names[k];
    if (best &&
        (name.first.size() < best->first.size() || (name.first.size() == best->first.size() && k >= best_k)))
      return;
    best = &name;
    best_k = k;
    best_text = &t;
  };
  const auto& by_first = index_->med_names_by_first;
  for (const auto& t : texts) {
    for (const std::uint32_t k : by_first[256]) consider(k, t);
    for (std::size_t i = 0; i < t.size(); ++i)
      for (const std::uint32_t k : by_first[static_cast<unsigned char>(t[i])]) {
        const std::string& name = index_->med_names[k].first;
        if (name.size() <= t.size() - i && t.compare(i, name.size(), name) == 0) consider(k, t);
      }
  }
  if (!best) return std::nullopt;
  MedicationMatch m;
  m.ingredient = ingredient(best->second);
  m.low_confidence = true;
  m.display = *best_text;
  m.rule = "medications.json " + best->second + ": name contains '" + best->first + "'";
  return m;
}

bool Terminology::names_other_drug(const fhir::CodeableConcept& cc) const {
  for (const auto& cd : cc.codings) {
    if (index_->rxnorm_urls.count(cd.system) && !cd.code.empty() && !cd.display.empty()) return true;
    if (index_->atc_urls.count(cd.system) && cd.code.size() >= 3 &&
        !index_->med_atc_groups.count(cd.code.substr(0, 3)))
      return true;
  }
  return false;
}

std::vector<std::string> Terminology::search_tokens(std::string_view concept_id,
                                                    std::size_t* unsearchable) const {
  std::set<std::string> out;
  std::size_t skipped = 0;
  for (const auto& [key, rules] : index_->exact)
    for (const auto& r : rules)
      if (!r.exclude && r.concept_id == concept_id) out.insert(key);
  for (const auto& [url, rules] : index_->patterns)
    for (const auto& r : rules) {
      if (r.exclude || r.concept_id != concept_id) continue;
      if (r.kind == Rule::Kind::prefix) {
        out.insert(url + "|" + r.lo);
        for (char d = '0'; d <= '9'; ++d) out.insert(url + "|" + r.lo + d);
      } else {
        ++skipped;
      }
    }
  if (unsearchable) *unsearchable = skipped;
  return {out.begin(), out.end()};
}

bool Terminology::observation_filter_terms(std::vector<std::string>& codes,
                                           std::vector<std::string>& texts) const {
  auto is_obs = [&](const std::string& id) {
    const Concept* c = find_concept(id);
    return c && c->kind == ConceptKind::observation;
  };
  for (const auto& [key, rules] : index_->exact)
    for (const auto& r : rules)
      if (!r.exclude && is_obs(r.concept_id)) {
        codes.push_back(key.substr(key.find('|') + 1));
        break;
      }
  bool exact_only = true;
  for (const auto& [url, rules] : index_->patterns)
    for (const auto& r : rules)
      if (!r.exclude && is_obs(r.concept_id)) exact_only = false;
  for (const auto& [needle, cid] : index_->texts)
    if (is_obs(cid)) texts.push_back(needle);
  return exact_only;
}

Terminology::LineScreen Terminology::line_screen(fhir::ResourceType type) const {
  LineScreen out;
  const bool medication_use = type == fhir::ResourceType::medication_request ||
                              type == fhir::ResourceType::medication_statement ||
                              type == fhir::ResourceType::medication_administration;
  if (medication_use) {
    for (const auto& [k, entry] : index_->meds) out.codes.push_back(k.substr(k.find('|') + 1));
    for (const auto& [needle, ing] : index_->med_names) out.texts.push_back(needle);
  } else {
    auto fits = [&](const std::string& id) {
      const Concept* c = find_concept(id);
      return c && kind_fits(c->kind, type);
    };
    // Exclusion rules only take matches away, so they are not looked for.
    for (const auto& [k, rules] : index_->exact)
      for (const auto& r : rules)
        if (!r.exclude && fits(r.concept_id)) {
          out.codes.push_back(k.substr(k.find('|') + 1));
          break;
        }
    for (const auto& [url, rules] : index_->patterns)
      for (const auto& r : rules)
        if (!r.exclude && fits(r.concept_id))
          out.ranges.emplace_back(r.lo, r.kind == Rule::Kind::range ? r.hi : r.lo);
    for (const auto& [needle, cid] : index_->texts)
      if (fits(cid)) out.texts.push_back(needle);
  }
  std::sort(out.codes.begin(), out.codes.end());
  out.codes.erase(std::unique(out.codes.begin(), out.codes.end()), out.codes.end());
  std::sort(out.ranges.begin(), out.ranges.end());
  out.ranges.erase(std::unique(out.ranges.begin(), out.ranges.end()), out.ranges.end());
  std::sort(out.texts.begin(), out.texts.end());
  out.texts.erase(std::unique(out.texts.begin(), out.texts.end()), out.texts.end());
  return out;
}

std::string PrednisoneEquivalence::text() const {
  return per_mg == Decimal::from_int(1) ? prednisone_mg.to_string()
                                        : prednisone_mg.to_string() + "/" + per_mg.to_string();
}

std::string Terminology::canonical_unit_name(std::string_view unit) const {
  std::string u(trim(unit));
  if (auto it = unit_aliases_.find(u); it != unit_aliases_.end()) return it->second;
  return u;
}

std::string Terminology::unit_of(const fhir::Quantity& q) const {
  if (!q.code.empty() && (q.system == "http://unitsofmeasure.org" || q.system.empty()))
    return canonical_unit_name(q.code);
  if (!q.unit.empty()) return canonical_unit_name(q.unit);
  return canonical_unit_name(q.code);
}

}  // namespace cf::terminology
