#pragma once
// The expression nodes a trial definition compiles to (docs/trial-definition.md lists their semantics).
#include <set>
#include <variant>

#include "criteria/trial.hpp"

namespace cf::criteria {

using NodePtr = std::shared_ptr<const Node>;

NodePtr make_all(std::vector<NodePtr> kids);
NodePtr make_any(std::vector<NodePtr> kids);
NodePtr make_not(NodePtr kid);
NodePtr make_at_least(int n, std::vector<NodePtr> kids);
NodePtr make_manual(std::string reason);
NodePtr make_review(NodePtr when, std::string reason);
NodePtr make_age(int min, int max);

enum class RecordTypes { condition, procedure, both };
NodePtr make_record(RecordTypes types, std::string concept_id, Window w, bool active_only, Tri absent);

struct CompareTest {
  terminology::CompareOp op;
  Decimal threshold;
  terminology::Conversion conversion;  // threshold unit -> canonical
  std::string unit;
};
struct TitreTest {
  Decimal min;
};
struct ReadingTest {
  bool positive;
};
struct LevelTest {
  bool low;
};
using ObservationTest = std::variant<CompareTest, TitreTest, ReadingTest, LevelTest>;
// `preliminary_decides`: whether a preliminary (or registered) result may decide; when false its test is
// unknown (the trial definition's "preliminary": "unknown").
NodePtr make_observation(std::string concept_id, Window w, bool latest, ObservationTest test, Tri absent,
                         bool preliminary_decides = true);

struct DrugFilter {
  std::set<std::string> classes, ingredients;
  bool matches(const terminology::Ingredient& i) const;
  std::string describe() const;
};
// unidentified_unknown: a use of a drug no mapping identifies, where a matching one would count, makes the
// node unknown rather than not met (for "no other therapy" readings).
NodePtr make_medication(DrugFilter f, bool active_at_as_of, Window w, int min_days, Tri absent,
                        bool unidentified_unknown);
NodePtr make_distinct_therapies(std::set<std::string> classes, int at_least,
                                std::set<std::string> require_one_of, Window w);
NodePtr make_gc_dose(bool oral_only, terminology::CompareOp op, Decimal mg_per_day, Tri none);
NodePtr make_gc_sustained(Decimal mg_per_day, int min_days, Window w);

enum class ScoreName { sledai2k_lab, eular_acr_lab };
NodePtr make_score(ScoreName name, int at_least);

// Lab-only score bounds for one patient (used by the score node, the ranking and the reports).
ScoreBounds compute_score_bounds(Context& ctx);

}  // namespace cf::criteria
