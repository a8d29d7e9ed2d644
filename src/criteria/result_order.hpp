#pragma once
// Which of two results of one concept is the newer: the order `latest` takes and the key values show.
#include "fhir/model.hpp"

namespace cf::criteria {

// By effective day; on the same day by the time of day when both carry one (as instants, zones honoured);
// then by meta.lastUpdated as an instant (a string compare when either is not one); then by id, so that the
// order is total and the same in every run.
bool newer_result(const fhir::Observation& a, const fhir::Observation& b);

}  // namespace cf::criteria
