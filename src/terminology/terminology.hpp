#pragma once
// Code and unit knowledge, loaded from mappings/ (STYLE.md practice 7): which codes mean which concept, how
// each analyte's units convert, which drugs belong to which therapy class. Nothing clinical is hard-coded
// here.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/decimal.hpp"
#include "core/result.hpp"
#include "fhir/model.hpp"

namespace cf::terminology {

enum class ConceptKind { observation, condition, procedure, any };

// Whether a concept of this kind can be carried by a resource of this type (any: a Condition or a Procedure).
bool kind_fits(ConceptKind k, fhir::ResourceType t);

struct Concept {
  std::string id;
  std::string label;
  ConceptKind kind = ConceptKind::any;
  std::string analyte;  // observation concepts: key into the unit rules
};

// value_in_canonical = (value + add) * multiply / divide, all exact.
struct Conversion {
  Decimal add, multiply = Decimal::from_int(1), divide = Decimal::from_int(1);
  bool identity() const;
};

struct Analyte {
  std::string id;
  std::string canonical;                    // canonical unit ("" for analytes read by interpretation only)
  std::map<std::string, Conversion> units;  // accepted units
  std::string interpretation;               // "", "titre" or "positivity"
  std::optional<Decimal> default_low, default_high;
  std::string default_range_note;
};

// One way a CodeableConcept was recognised.
struct Match {
  const Concept* con = nullptr;
  bool low_confidence = false;
  std::string system, code, display;  // the coding that matched (code empty for a text match)
  std::string rule;                   // "mappings/concepts.json sle: icd10 prefix M32.1"
};

// How many mg of prednisone `per_mg` mg of a glucocorticoid equal, as the equivalence tables write it
// ("prednisone 5 mg = dexamethasone 0.75 mg"): 5 per 0.75. Kept as the pair, not as a rounded factor, so that
// 6 mg of dexamethasone is exactly 40 mg of prednisone, not 40.0002.
struct PrednisoneEquivalence {
  Decimal prednisone_mg;
  Decimal per_mg = Decimal::from_int(1);
  std::string text() const;  // "1.25", or "5/0.75"
};

struct Ingredient {
  std::string id;
  std::vector<std::string> classes;
  std::optional<PrednisoneEquivalence> prednisone_mg_per_mg;  // glucocorticoids only
};

struct MedicationMatch {
  const Ingredient* ingredient = nullptr;
  std::optional<Decimal> strength_mg;  // when the code names a product with a known strength
  bool low_confidence = false;
  std::string system, code, display, rule;
};

// Ends the rule of a match on a code the maps mark "verified": false (written from memory, to be checked).
inline constexpr std::string_view kUnverifiedNote = " (code not verified)";

class Terminology {
 public:
  // Loads systems.json, concepts.json, units.json, medications.json and every local/*.json under `dir`.
  static Result<std::shared_ptr<const Terminology>> load(const std::filesystem::path& dir);
  Terminology() = default;
  // Not copied: a copy would share instance() with its original while its concepts live elsewhere, and the
  // per-thread caches keyed by instance() would hand out pointers into the other one.
  Terminology(const Terminology&) = delete;
  Terminology& operator=(const Terminology&) = delete;

  const Concept* find_concept(std::string_view id) const;
  std::vector<std::string> concept_ids(ConceptKind kind) const;
  const Analyte* analyte(std::string_view id) const;
  const Ingredient* ingredient(std::string_view id) const;
  bool has_class(std::string_view cls) const { return classes_.count(std::string(cls)) > 0; }
  // Different for every Terminology of the process, even one at the address of a freed one (cache keys).
  std::uint64_t instance() const { return instance_; }

  // Every concept the CodeableConcept means (at most one Match per concept, the highest confidence first).
  std::vector<Match> match(const fhir::CodeableConcept& cc) const;
  // Whether match() would find a concept of a kind a resource of `type` carries (kind_fits), without
  // building the matches: the question asked of every resource read.
  bool means_any(const fhir::CodeableConcept& cc, fhir::ResourceType type) const;
  std::optional<MedicationMatch> match_medication(const fhir::CodeableConcept& cc) const;
  // For a drug match_medication() does not know: do its codes say it is some other drug? An RxNorm coding
  // with its name (RxNorm names list the ingredients, and no mapped name is in it), or an ATC code outside
  // the ATC groups (first three characters: H02, P01, L04, ...) of every mapped ingredient. A brand name or a
  // local code alone does not: that drug is unidentified and may be an SLE therapy.
  bool names_other_drug(const fhir::CodeableConcept& cc) const;

  // The unit of a Quantity after aliases (UCUM code preferred), "" when none is given.
  std::string unit_of(const fhir::Quantity& q) const;
  std::string canonical_unit_name(std::string_view unit) const;

  // What a raw-line prefilter must look for so that no Observation a concept could match is skipped: every
  // exact code of an observation concept (in any system) and every lower-case text pattern. Returns false
  // when an observation concept uses prefix or range rules: a code set cannot then stand for it.
  bool observation_filter_terms(std::vector<std::string>& codes, std::vector<std::string>& texts) const;

  // What a raw-line prefilter must look for so that no resource of `type` a concept could match (for
  // MedicationRequest/Statement/Administration: an ingredient) is skipped. Codes are compared without their
  // system, so the screen lets through a superset.
  struct LineScreen {
    std::vector<std::string> codes;                           // exact codes
    std::vector<std::pair<std::string, std::string>> ranges;  // [lo, hi] on a code's first lo.size() chars
    std::vector<std::string> texts;                           // lower-case substrings of text/display
  };
  LineScreen line_screen(fhir::ResourceType type) const;

  // FHIR token search values ("system|code") for a concept, for server-side searches: every exact code in
  // every URL of its system, and prefixes expanded one level ("M32.1" -> M32.1, M32.10 ... M32.19). Range
  // rules cannot be searched and are left out (the caller is told how many through `unsearchable`).
  std::vector<std::string> search_tokens(std::string_view concept_id,
                                         std::size_t* unsearchable = nullptr) const;

  // (file, sha256) of every mapping file read, for the manifest.
  const std::vector<std::pair<std::string, std::string>>& files() const { return files_; }

  struct Rule;  // internal code-matching rule

  // The codes the maps mark "verified": false (written from memory, to be checked before production use), as
  // the rules that name them: "concepts.json creatinine: loinc 2160-0 (code not verified)".
  const std::vector<std::string>& unverified_codes() const { return unverified_; }

 private:
  friend class Loader;
  std::vector<std::string> unverified_;
  std::map<std::string, std::vector<std::string>> systems_;  // short name -> URLs
  std::map<std::string, Concept> concepts_;
  std::map<std::string, Analyte> analytes_;
  std::map<std::string, std::string> unit_aliases_;
  std::map<std::string, Ingredient> ingredients_;
  std::map<std::string, std::string> classes_;
  std::vector<std::pair<std::string, std::string>> files_;
  std::uint64_t instance_ = next_instance();
  static std::uint64_t next_instance();
  template <class Found>
  void visit_matches(const fhir::CodeableConcept& cc, Found&& found) const;
  // match()'s result, remembered per thread; valid until this thread's next call.
  const std::vector<Match>& remembered_matches(const fhir::CodeableConcept& cc) const;
  std::shared_ptr<struct Index> index_;
};

}  // namespace cf::terminology
