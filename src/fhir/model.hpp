#pragma once
// The slice of FHIR R4 the cohort finder reads, extracted from JSON into plain structs. Only the elements
// that a criterion, the evidence trail or a data-quality check needs are kept.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/date.hpp"
#include "core/decimal.hpp"

namespace cf::fhir {

enum class ResourceType {
  patient,
  condition,
  observation,
  medication_request,
  medication_statement,
  medication_administration,
  procedure,
  medication,
  other
};
const char* to_string(ResourceType t);
ResourceType resource_type_from(std::string_view name);

struct Coding {
  std::string system, code, display;
  bool operator==(const Coding&) const = default;
};

struct CodeableConcept {
  std::vector<Coding> codings;
  std::string text;
  bool empty() const { return codings.empty() && text.empty(); }
  // The first code of `system`, or empty.
  std::string code_in(std::string_view system) const;
  bool operator==(const CodeableConcept&) const = default;
};

struct Quantity {
  std::optional<Decimal> value;
  std::string value_text;  // exactly as written
  std::string comparator;  // <, <=, >=, >, ad
  std::string unit;        // human unit text
  std::string system;      // normally http://unitsofmeasure.org
  std::string code;        // UCUM code when system is UCUM
  bool operator==(const Quantity&) const = default;
};

struct Ratio {
  std::optional<Quantity> numerator, denominator;
  bool operator==(const Ratio&) const = default;
};

// Where a resource came from, for the evidence trail and data issues.
struct Origin {
  // "fhir-samples/labs.ndjson:12", "bundle.json entry[3]", "GET page 4 entry[2]". (Which source it came from
  // is the run's, in manifest.json: not repeated in every resource.)
  std::string location;
  bool operator==(const Origin&) const = default;
};

struct Header {
  ResourceType type = ResourceType::other;
  std::string id;
  std::string version_id;
  std::string last_updated;  // meta.lastUpdated as written
  Origin origin;
  // The reference as written ("Patient/1", "urn:uuid:..."); the collector drops it once the patient is known.
  std::string subject;
  std::string patient_id;         // resolved Patient id, empty when unresolved
  bool unknown_modifier = false;  // carries a modifierExtension we do not understand (RELIABILITY D4)
  std::string raw;                // the resource's JSON, kept only when a state store will save it

  std::string key() const;  // "Observation/abc"
  bool operator==(const Header&) const = default;
};

struct Patient {
  Header h;
  std::optional<PartialDate> birth_date;
  std::string birth_date_text;
  bool deceased = false;
  std::optional<PartialDate> deceased_date;
  std::string gender;
  std::string name;  // "Family, Given" of the first usable name; only identified exports show it
  bool active = true;
  bool operator==(const Patient&) const = default;
};

struct Condition {
  Header h;
  CodeableConcept code;
  std::string clinical_status;  // active, recurrence, relapse, inactive, remission, resolved ("" if absent)
  std::string
      verification_status;  // unconfirmed, provisional, differential, confirmed, refuted, entered-in-error
  std::optional<PartialDate> onset, abatement, recorded;
  std::string onset_text, abatement_text, recorded_text;
  bool operator==(const Condition&) const = default;
};

struct ReferenceRange {
  std::optional<Quantity> low, high;
  std::string text;
  bool operator==(const ReferenceRange&) const = default;
};

struct ObservationValue {
  enum class Kind { none, quantity, codeable, string, ratio, integer, boolean, range, other };
  Kind kind = Kind::none;
  Quantity quantity;  // quantity, integer (unitless)
  CodeableConcept codeable;
  std::string text;
  Ratio ratio;
  bool flag = false;
  std::string element;  // "valueQuantity" etc., for element paths
  bool operator==(const ObservationValue&) const = default;
};

struct ObservationComponent {
  CodeableConcept code;
  ObservationValue value;
  std::string data_absent_reason;
  std::vector<Coding> interpretation;  // the component's own: a panel's results each have theirs
  std::vector<ReferenceRange> reference_ranges;
  bool operator==(const ObservationComponent&) const = default;
};

struct Observation {
  Header h;
  std::string status;
  CodeableConcept code;
  ObservationValue value;
  std::string data_absent_reason;
  std::optional<PartialDate> effective;
  std::string effective_text;
  std::vector<Coding> interpretation;
  std::vector<ReferenceRange> reference_ranges;
  std::vector<ObservationComponent> components;
  bool operator==(const Observation&) const = default;
};

struct Timing {
  std::optional<Decimal> frequency;  // times per period
  std::optional<Decimal> period;
  std::string period_unit;  // s, min, h, d, wk, mo, a
  std::string code;         // timing.code (BID, TID, QD...)
  bool varies =
      false;  // frequencyMax or periodMax give a frequency "up to": the daily dose is not one figure
  std::optional<PartialDate> bounds_start, bounds_end;
  std::optional<Quantity> bounds_duration;
  bool operator==(const Timing&) const = default;
};

struct Dosage {
  std::string text;
  CodeableConcept route;
  std::optional<Quantity> dose;          // doseQuantity, or doseRange.high
  std::optional<Quantity> dose_low;      // doseRange.low: set only when the dose is a range
  std::optional<std::int32_t> sequence;  // instructions with the same sequence are taken together
  Timing timing;
  bool as_needed = false;
  bool operator==(const Dosage&) const = default;
};

// MedicationRequest, MedicationStatement and MedicationAdministration share the parts the tool uses.
struct MedicationUse {
  Header h;
  std::string status;
  std::string intent;           // MedicationRequest only
  bool do_not_perform = false;  // MedicationRequest.doNotPerform (a modifier): an order NOT to give the drug
  CodeableConcept medication;  // medicationCodeableConcept, or the referenced Medication's code once resolved
  std::string medication_reference;  // "Medication/123" or "#contained" when given by reference
  std::optional<PartialDate> authored, start, end;  // authoredOn; effective or validity period
  std::string authored_text, start_text;
  std::vector<Dosage> dosages;
  bool operator==(const MedicationUse&) const = default;
};

struct Procedure {
  Header h;
  std::string status;
  CodeableConcept code;
  std::optional<PartialDate> start, end;
  std::string start_text;
  bool operator==(const Procedure&) const = default;
};

struct Medication {
  Header h;
  CodeableConcept code;
  bool operator==(const Medication&) const = default;
};

using Resource = std::variant<Patient, Condition, Observation, MedicationUse, Procedure, Medication>;

Header& header(Resource& r);
const Header& header(const Resource& r);
// The code a concept is matched on: Observation, Condition and Procedure .code; nullptr for other types.
const CodeableConcept* code_of(const Resource& r);

}  // namespace cf::fhir
