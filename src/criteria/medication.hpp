#pragma once
// When a medication was taken and at what daily dose, from MedicationRequest/Statement/Administration.
#include <optional>
#include <string>

#include "core/decimal.hpp"
#include "terminology/patient_record.hpp"

namespace cf::criteria {

struct UseSpan {
  bool counts = false;  // status and intent say the drug was (or is) taken
  std::optional<Days> start, end;
  bool ongoing = false;  // active with no end: runs to the as-of date
  // From this day on the use may or may not have gone on: a 'stopped' order or statement ended on a day the
  // record does not give, before its planned end; status 'unknown' (or a partly given administration,
  // 'stopped') may not have been taken at all. Such days decide nothing by themselves.
  std::optional<Days> uncertain_from;
  std::string why;  // when it does not count
  bool certain_on(Days day) const { return !uncertain_from || day < *uncertain_from; }
};
UseSpan span_of(const fhir::MedicationUse& use, Days as_of);

// Whether the use's route says it acts on the skin, eye, ear, nose or airways (not systemically): its amount
// (grams of a cream, puffs) is no systemic glucocorticoid dose.
bool local_route(const fhir::MedicationUse& use);

// mg of the drug per day on `day` (nullopt with `how` saying why it cannot be computed). Exact decimal
// arithmetic: a quotient that does not terminate (10 mg every 3 days) is rounded half to even to
// kDoseDigits decimals, the same on every machine.
inline constexpr int kDoseDigits = 12;
// A dose known to lie in [low, high] mg/day (low == high for a plain dose): a doseRange, or instructions
// that may or may not be taken together.
struct DoseRange {
  Decimal low, high;
};
std::optional<DoseRange> daily_mg(const terminology::MedicationFact& f, Days day, std::string& how);

bool oral_or_unspecified(const fhir::MedicationUse& use);

}  // namespace cf::criteria
