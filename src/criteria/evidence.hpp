#pragma once
#include "criteria/result.hpp"
#include "fhir/model.hpp"
#include "terminology/terminology.hpp"

namespace cf::criteria {

Evidence evidence_from(const fhir::Header& h);
void set_match(Evidence& e, const terminology::Match& m);
void set_match(Evidence& e, const terminology::MedicationMatch& m);
// "221 umol/L", "1:160", "Positive (SNOMED 10828004)", "true"
std::string describe_value(const fhir::ObservationValue& v);
std::string day_or_text(const std::optional<PartialDate>& d, const std::string& text);

}  // namespace cf::criteria
