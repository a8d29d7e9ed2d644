#pragma once
// Everything the criteria may look at for one patient: the Patient resource and the clinical resources that
// matched a concept or a drug, each with how it matched, and the medication uses no mapping identifies.
// Other resources that match nothing are counted and dropped, so memory grows with the facts kept, not with
// the input.
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/data_issue.hpp"
#include "fhir/model.hpp"
#include "terminology/spill.hpp"
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
  // A medication use names a Medication the source did not deliver: which drug it is cannot be told, so
  // drug criteria are unknown rather than decided without it.
  bool unresolved_medication = false;
  // Uses of a drug no code or name of the mappings identifies (a brand, a local code not yet mapped): kept so
  // that a criterion can say "no other therapy" only when every current drug is known (docs: `unidentified`).
  std::vector<std::shared_ptr<const fhir::MedicationUse>> unidentified_medications;
};

// A drug no code or name of the mappings identifies, over the whole run: what the study team should map.
struct UnidentifiedDrug {
  std::vector<std::string> codes;  // "system|code" of its codings, as written
  std::string name;                // its text, or else the first display
  std::size_t uses = 0, patients = 0;
};

struct CollectStats {
  std::size_t kept = 0;
  std::size_t unmatched = 0;     // read but relevant to no criterion
  std::size_t duplicates = 0;    // same type/id seen again (the newest version is kept)
  std::size_t unattributed = 0;  // no patient
  std::size_t other_shard = 0;   // belongs to a patient of another shard
  // By drug (its codes, or its name when it has none); final once every partition is finished.
  std::map<std::string, UnidentifiedDrug> unidentified;
};

// The drug a use of an unidentified drug names (no uses or patients counted yet).
UnidentifiedDrug describe_unidentified(const fhir::CodeableConcept& drug);
// The key a drug is counted under: its codes, or its name when it has none.
std::string unidentified_key(const UnidentifiedDrug& d);
// Adds `d`'s uses and patients to the drug of its key in `into` (patients are counted where they are: a
// partition, a shard); of the names it is written with, the one that sorts first is kept, whatever the order
// of adding.
void add_unidentified(std::map<std::string, UnidentifiedDrug>& into, const UnidentifiedDrug& d);
// Unidentified drugs, those of the most patients (then uses) first.
std::vector<UnidentifiedDrug> unidentified_by_use(const std::map<std::string, UnidentifiedDrug>& drugs);

// Receives resources from any source, keeps the newest version of each, and groups them per patient.
//
// Kept resources stay in memory up to a budget; beyond it (set_spill) they go to temporary bucket files by
// patient, and the records are then built and evaluated one partition (bucket) at a time, so memory is
// bounded by a partition's share, not by the size of the hospital. Without spilling there is one partition.
// Versions of one resource that name different patients (overlapping input files after a patient merge) can
// fall in different partitions: they are found from a record of every spilled resource's key and settled
// before the first partition is finished, so the newest version wins whatever the partitioning.
class Collector {
 public:
  explicit Collector(std::shared_ptr<const Terminology> t) : t_(std::move(t)) {}
  ~Collector();
  // Resources arriving after `budget_bytes` of kept resources go to `files` scratch files in `dir`, in
  // `files` x `partitions_per_file` partitions (SpillBuckets).
  void set_spill(std::filesystem::path dir, std::size_t budget_bytes, std::size_t files,
                 std::size_t partitions_per_file = 1);
  // True when the resource is kept (a Patient, a Medication, or a clinical resource that matched), false when
  // it was counted and dropped (no patient, another shard's, relevant to no criterion).
  bool add(fhir::Resource&& r);
  // Keep only the patients this predicate accepts (a shard of the run); others are counted and dropped.
  void set_patient_filter(std::function<bool(const std::string&)> f) { filter_ = std::move(f); }
  // A spill file that could not be written: the run must fail rather than lose the resource.
  const Status& status() const { return status_; }

  std::size_t partitions() const { return parts_.size(); }
  // The records of one partition by patient id (every patient is in exactly one), with medicationReference
  // resolved through the Medication resources. Call once per partition, after the last add(); different
  // partitions may be finished on different threads at once.
  Result<std::map<std::string, PatientRecord>> finish_partition(std::size_t p, IssueLog& issues);
  // All partitions at once (small inputs and tests).
  std::map<std::string, PatientRecord> finish(IssueLog& issues);
  // Counts; kept and duplicates are final once every partition is finished.
  const CollectStats& stats() const { return stats_; }
  std::uint64_t spilled_bytes() const;

 private:
  bool newer(const fhir::Header& a, const fhir::Header& b) const;  // is a newer than b?
  void start_spilling();
  void note_key(const fhir::Header& h, std::size_t bucket);
  Status settle_cross_partition_versions();

  struct Partition {
    std::vector<fhir::Resource> in_memory;  // in arrival order, before those in the bucket file
  };
  std::shared_ptr<const Terminology> t_;
  std::vector<Partition> parts_{1};
  struct KnownMedication {
    fhir::Header h;  // version, lastUpdated and location only
    fhir::CodeableConcept code;
  };
  std::unordered_map<std::string, KnownMedication> medications_;  // the newest version of each
  // Versions read but relevant to no criterion that may be newer than a kept version of the same resource
  // (any but versionId 1): a resource recoded to something no criterion reads must not leave its old,
  // relevant version standing. Only the version, lastUpdated and location are kept.
  std::unordered_map<std::string, fhir::Header> dropped_versions_;
  CollectStats stats_;
  std::mutex stats_mu_;  // finish_partition() runs on several threads
  std::function<bool(const std::string&)> filter_;
  std::filesystem::path spill_dir_;
  std::size_t budget_ = 0, buckets_ = 0, files_ = 0, in_memory_bytes_ = 0;  // buckets_: partitions
  bool spill_enabled_ = false;
  std::unique_ptr<SpillBuckets> spill_;
  Status status_ = Status::success();
  // While spilling: (hash of "Type/id", partition) of every kept resource, to find versions of one resource
  // in two partitions; then the (key, partition) pairs whose versions lost to a newer one elsewhere.
  std::vector<std::pair<std::uint64_t, std::uint32_t>> keys_;
  bool settled_ = false;
  std::set<std::pair<std::string, std::size_t>> superseded_;
  std::map<std::pair<std::string, std::size_t>, std::string> superseded_by_;  // -> where the winner was read
};

}  // namespace cf::terminology
