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
  std::string why;       // when it does not count
};
UseSpan span_of(const fhir::MedicationUse& use, Days as_of);

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
