#pragma once
// Everything the criteria may look at for one patient: the Patient resource and the clinical resources that
// matched a concept or a drug, each with how it matched. Resources that match nothing are counted and
// dropped, so memory grows with the facts kept, not with the input.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/data_issue.hpp"
#include "fhir/model.hpp"
#include "terminology/terminology.hpp"

namespace cf::terminology {

struct ObservationFact {
  std::shared_ptr<const fhir::Observation> obs;
  Match match;
};
struct ConditionFact {
  std::shared_ptr<const fhir::Condition> cond;
  Match match;
};
struct ProcedureFact {
  std::shared_ptr<const fhir::Procedure> proc;
  Match match;
};
struct MedicationFact {
  std::shared_ptr<const fhir::MedicationUse> use;
  MedicationMatch match;
};

struct PatientRecord {
  std::string id;
  std::shared_ptr<const fhir::Patient> patient;  // null when only clinical resources name the patient
  std::vector<ObservationFact> observations;
  std::vector<ConditionFact> conditions;
  std::vector<ProcedureFact> procedures;
  std::vector<MedicationFact> medications;
};

struct CollectStats {
  std::size_t kept = 0;
  std::size_t unmatched = 0;     // read but relevant to no criterion
  std::size_t duplicates = 0;    // same type/id seen again (the newest version is kept)
  std::size_t unattributed = 0;  // no patient
  std::size_t other_shard = 0;   // belongs to a patient of another shard
};

// Receives resources from any source, keeps the newest version of each, and groups them per patient.
class Collector {
 public:
  explicit Collector(std::shared_ptr<const Terminology> t) : t_(std::move(t)) {}
  void add(fhir::Resource&& r, IssueLog& issues);
  // Keep only the patients this predicate accepts (a shard of the run); others are counted and dropped.
  void set_patient_filter(std::function<bool(const std::string&)> f) { filter_ = std::move(f); }
  // Resolves medicationReference through Medication resources and returns the records by patient id.
  std::map<std::string, PatientRecord> finish(IssueLog& issues);
  const CollectStats& stats() const { return stats_; }

 private:
  bool newer(const fhir::Header& a, const fhir::Header& b) const;  // is a newer than b?

  std::shared_ptr<const Terminology> t_;
  std::unordered_map<std::string, fhir::Resource> kept_;  // "Type/id" -> resource
  std::unordered_map<std::string, fhir::CodeableConcept> medications_;
  CollectStats stats_;
  std::function<bool(const std::string&)> filter_;
};

}  // namespace cf::terminology
