#pragma once
// A trial definition compiled from data (STYLE.md practice 4): validated once when loaded, with errors that
// name the criterion and field, then evaluated for every patient against an as-of date that is passed in
// (practice 5).
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/date.hpp"
#include "core/result.hpp"
#include "criteria/result.hpp"
#include "criteria/window.hpp"
#include "terminology/patient_record.hpp"

namespace cf::criteria {

// Lab-only lower bounds of the disease scores (CRITERIA.md section 5), with the items that scored.
struct ScoreBounds {
  int sledai2k = 0;
  std::vector<std::string> sledai2k_items;
  int eular_acr = 0;
  bool eular_entry = false;     // ANA >= 1:80 (or positive) at least once
  bool eular_clinical = false;  // at least one clinical domain scored
  std::vector<std::string> eular_items;
  std::vector<Evidence> evidence;  // of the SLEDAI-2K items, then of the EULAR/ACR entry criterion and items
  std::size_t sledai2k_evidence_end = 0;  // where the EULAR/ACR evidence begins (not stored in results)
};

// Does the source have every resource of `type` for this patient? (RELIABILITY D10)
using IncompleteFn = std::function<bool(const std::string& patient, const std::string& type)>;

struct Context {
  const terminology::PatientRecord& rec;
  const terminology::Terminology& terms;
  Days as_of;
  IncompleteFn incomplete;
  Window sledai_window;
  std::optional<ScoreBounds> scores;  // computed on first use
  // Set while a score item is evaluated: its caller keeps only the evidence of met results, so leaves need
  // not build the rest (the outcome and the reason are the same).
  bool met_evidence_only = false;

  bool type_incomplete(const char* type) const { return incomplete && incomplete(rec.id, type); }
  const ScoreBounds& score_bounds();
};

class Node {
 public:
  virtual ~Node() = default;
  virtual NodeResult eval(Context& ctx) const = 0;
};

struct Criterion {
  std::string id;
  bool inclusion = true;
  std::string label;
  std::string check_next;
  std::string manual;  // set for criteria only a human can decide
  bool analogue = false;
  std::shared_ptr<const Node> expr;
};

struct Ranking {
  // Defaults order candidates lexicographically (CRITERIA.md section 6): criteria in favour, then the
  // SLEDAI-2K bound (< 100), then the EULAR/ACR bound (< 100), then recency (< 1).
  double per_criterion_in_favour = 10000;
  double per_sledai2k_point = 100;
  double per_eular_acr_point = 1;
  double recency_weight = 0.99;
  double recency_half_life_days = 180;
  std::vector<std::string> recency_concepts;
};

class Trial {
 public:
  static Result<Trial> load(const std::filesystem::path& file, const terminology::Terminology& terms);
  static Result<Trial> parse(std::string_view text, const std::string& name,
                             const terminology::Terminology& terms);

  std::string id, version, title, sha256, file;
  std::vector<std::string> notes;
  std::vector<Criterion> criteria;
  Ranking ranking;
  Window sledai_window{Window::Unit::days, 90};

  std::vector<CriterionResult> evaluate(Context& ctx) const;
};

}  // namespace cf::criteria
