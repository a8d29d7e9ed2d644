// Lab-only lower bounds of SLEDAI-2K and the 2019 EULAR/ACR classification score (CRITERIA.md section 5).
// Each item counts only when the data show it; an unknown item adds nothing, so the result is a lower bound.
#include <map>
#include <mutex>
#include <tuple>

#include "criteria/nodes.hpp"

namespace cf::criteria {

namespace {

using terminology::CompareOp;

std::optional<ObservationTest> compare(const terminology::Terminology& t, const std::string& concept_id,
                                       CompareOp op, const char* value, const char* unit) {
  const auto* c = t.find_concept(concept_id);
  if (!c) return std::nullopt;
  const auto* a = t.analyte(c->analyte);
  if (!a) return std::nullopt;
  auto it = a->units.find(unit);
  if (it == a->units.end()) return std::nullopt;
  return CompareTest{op, *Decimal::parse(value), it->second, unit};
}

struct Item {
  const char* name;
  int weight;
  NodePtr node;
};

NodePtr obs_any(const terminology::Terminology& t, const char* concept_id, Window w,
                std::optional<ObservationTest> test) {
  if (!test || !t.find_concept(concept_id)) return make_manual("not configured");
  return make_observation(concept_id, w, false, *test, Tri::not_met);
}

NodePtr reading(const char* concept_id, Window w, bool positive) {
  return make_observation(concept_id, w, false, ReadingTest{positive}, Tri::not_met);
}

NodePtr low(const char* concept_id, Window w) {
  return make_observation(concept_id, w, false, LevelTest{true}, Tri::not_met);
}

// Evaluates one item; adds its evidence when it scores.
bool scores(Context& ctx, const NodePtr& n, ScoreBounds& b, std::vector<std::string>& items, const char* name,
            int weight) {
  struct MetEvidenceOnly {  // for this item only, however it ends
    Context& ctx;
    bool was;
    explicit MetEvidenceOnly(Context& c) : ctx(c), was(c.met_evidence_only) { ctx.met_evidence_only = true; }
    ~MetEvidenceOnly() { ctx.met_evidence_only = was; }
  } only_met(ctx);
  NodeResult r = n->eval(ctx);
  if (r.value != Tri::met) return false;
  items.push_back(std::string(name) + " +" + std::to_string(weight));
  for (auto& e : r.evidence) {
    e.note = std::string(name) + ": " + e.note;
    b.evidence.push_back(std::move(e));
  }
  return true;
}

// The item trees depend only on the mappings and the SLEDAI window, so they are built once per run (not once
// per patient, which cost more than evaluating them) and shared, read-only, by the evaluation threads.
struct ScoreNodes {
  std::vector<Item> sledai;
  NodePtr eular_entry;
  std::vector<std::pair<std::vector<Item>, bool>> eular_domains;  // items highest weight first; clinical?
};

std::shared_ptr<const ScoreNodes> build_score_nodes(const terminology::Terminology& t, Window s) {
  auto n = std::make_shared<ScoreNodes>();
  const Window ever;
  // SLEDAI-2K items in the activity window.
  n->sledai = {
      {"proteinuria > 0.5 g/24h", 4,
       make_any({obs_any(t, "urine_protein_24h", s,
                         compare(t, "urine_protein_24h", CompareOp::gt, "0.5", "g/(24.h)")),
                 obs_any(t, "upcr", s, compare(t, "upcr", CompareOp::gt, "0.5", "g/g"))})},
      {"haematuria > 5 RBC/hpf", 4,
       obs_any(t, "urine_rbc_hpf", s, compare(t, "urine_rbc_hpf", CompareOp::gt, "5", "/[HPF]"))},
      {"pyuria > 5 WBC/hpf", 4,
       obs_any(t, "urine_wbc_hpf", s, compare(t, "urine_wbc_hpf", CompareOp::gt, "5", "/[HPF]"))},
      {"urinary casts", 4, reading("urine_casts", s, true)},
      {"low complement", 2, make_any({low("c3", s), low("c4", s)})},
      {"anti-dsDNA raised", 2, reading("anti_dsdna", s, true)},
      {"fever > 38 C", 1,
       obs_any(t, "body_temperature", s, compare(t, "body_temperature", CompareOp::gt, "38", "Cel"))},
      {"platelets < 100", 1,
       obs_any(t, "platelets", s, compare(t, "platelets", CompareOp::lt, "100", "10*9/L"))},
      {"leukocytes < 3", 1, obs_any(t, "wbc", s, compare(t, "wbc", CompareOp::lt, "3", "10*9/L"))},
  };
  // EULAR/ACR: entry criterion, then the highest item per domain, ever.
  n->eular_entry =
      make_any({make_observation("ana_titre", ever, false, TitreTest{Decimal::from_int(80)}, Tri::not_met),
                reading("ana_presence", ever, true)});
  n->eular_domains.push_back(
      {{{"fever > 38.3 C", 2,
         obs_any(t, "body_temperature", ever, compare(t, "body_temperature", CompareOp::gt, "38.3", "Cel"))}},
       true});
  n->eular_domains.push_back(
      {{{"thrombocytopenia < 100", 4,
         obs_any(t, "platelets", ever, compare(t, "platelets", CompareOp::lt, "100", "10*9/L"))},
        {"leukopenia < 4", 3, obs_any(t, "wbc", ever, compare(t, "wbc", CompareOp::lt, "4", "10*9/L"))}},
       true});
  n->eular_domains.push_back(
      {{{"lupus nephritis class III/IV", 10,
         make_record(RecordTypes::condition, "lupus_nephritis_class_iii_iv", ever, false, Tri::not_met)},
        {"lupus nephritis class II/V", 8,
         make_record(RecordTypes::condition, "lupus_nephritis_class_ii_v", ever, false, Tri::not_met)},
        {"proteinuria > 0.5 g/24h", 4,
         make_any({obs_any(t, "urine_protein_24h", ever,
                           compare(t, "urine_protein_24h", CompareOp::gt, "0.5", "g/(24.h)")),
                   obs_any(t, "upcr", ever, compare(t, "upcr", CompareOp::gt, "0.5", "g/g"))})}},
       true});
  n->eular_domains.push_back({{{"low C3 and low C4", 4, make_all({low("c3", ever), low("c4", ever)})},
                               {"low C3 or low C4", 3, make_any({low("c3", ever), low("c4", ever)})}},
                              false});
  n->eular_domains.push_back(
      {{{"anti-dsDNA or anti-Sm", 6,
         make_any({reading("anti_dsdna", ever, true), reading("anti_sm", ever, true)})}},
       false});
  return n;
}

const ScoreNodes& score_nodes(const terminology::Terminology& t, Window s) {
  static std::mutex mu;
  // Keyed by the Terminology's instance number, not its address (a freed one's address can come back).
  static std::map<std::tuple<std::uint64_t, int, int>, std::shared_ptr<const ScoreNodes>> cache;
  std::lock_guard lock(mu);
  auto& slot = cache[{t.instance(), static_cast<int>(s.unit), s.n}];
  if (!slot) slot = build_score_nodes(t, s);
  return *slot;
}

}  // namespace

ScoreBounds compute_score_bounds(Context& ctx) {
  const ScoreNodes& n = score_nodes(ctx.terms, ctx.sledai_window);
  ScoreBounds b;
  for (const auto& it : n.sledai)
    if (scores(ctx, it.node, b, b.sledai2k_items, it.name, it.weight)) b.sledai2k += it.weight;
  b.sledai2k_evidence_end = b.evidence.size();
  std::vector<std::string> entry_item;  // not an item of the sum: its evidence shows the entry criterion
  b.eular_entry = scores(ctx, n.eular_entry, b, entry_item, "entry criterion ANA >= 1:80", 0);
  for (const auto& [items, clinical] : n.eular_domains)
    for (const auto& it : items)  // highest weight first
      if (scores(ctx, it.node, b, b.eular_items, it.name, it.weight)) {
        b.eular_acr += it.weight;
        if (clinical) b.eular_clinical = true;
        break;
      }
  return b;
}

const ScoreBounds& Context::score_bounds() {
  if (!scores) scores = compute_score_bounds(*this);
  return *scores;
}

namespace {

class ScoreLeaf : public Node {
 public:
  ScoreLeaf(ScoreName n, int at_least) : name_(n), at_least_(at_least) {}
  NodeResult eval(Context& ctx) const override {
    const ScoreBounds& b = ctx.score_bounds();
    const bool sledai = name_ == ScoreName::sledai2k_lab;
    const int value = sledai ? b.sledai2k : b.eular_acr;
    const auto& items = sledai ? b.sledai2k_items : b.eular_items;
    // Each score shows the evidence of its own items only (SLEDAI's first, then EULAR/ACR's).
    const auto split = b.evidence.begin() + static_cast<std::ptrdiff_t>(b.sledai2k_evidence_end);
    std::vector<Evidence> evidence = sledai ? std::vector<Evidence>(b.evidence.begin(), split)
                                            : std::vector<Evidence>(split, b.evidence.end());
    std::string list;
    for (const auto& i : items) list += (list.empty() ? "" : ", ") + i;
    std::string what = std::string(sledai ? "SLEDAI-2K" : "EULAR/ACR") + " lab-only lower bound " +
                       std::to_string(value) + (list.empty() ? "" : " (" + list + ")");
    bool ok = value >= at_least_;
    if (!sledai) {
      if (!b.eular_entry) what += "; ANA entry criterion not shown";
      if (!b.eular_clinical) what += "; no clinical item";
      ok = ok && b.eular_entry && b.eular_clinical;
    }
    if (ok) return NodeResult::met(what + " >= " + std::to_string(at_least_), std::move(evidence));
    // Classification needs the entry criterion: without a positive ANA on record the bound cannot rise to it.
    if (!sledai && !b.eular_entry) return NodeResult::not_met(what, std::move(evidence));
    return NodeResult::unknown(what + " < " + std::to_string(at_least_) + " (clinical items need review)",
                               std::move(evidence));
  }

 private:
  ScoreName name_;
  int at_least_;
};

}  // namespace

NodePtr make_score(ScoreName n, int at_least) {
  return std::make_shared<ScoreLeaf>(n, at_least);
}

}  // namespace cf::criteria
