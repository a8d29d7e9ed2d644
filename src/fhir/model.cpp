#include "fhir/model.hpp"

namespace cf::fhir {

const char* to_string(ResourceType t) {
  switch (t) {
    case ResourceType::patient:
      return "Patient";
    case ResourceType::condition:
      return "Condition";
    case ResourceType::observation:
      return "Observation";
    case ResourceType::medication_request:
      return "MedicationRequest";
    case ResourceType::medication_statement:
      return "MedicationStatement";
    case ResourceType::medication_administration:
      return "MedicationAdministration";
    case ResourceType::procedure:
      return "Procedure";
    case ResourceType::medication:
      return "Medication";
    case ResourceType::other:
      return "Other";
  }
  return "Other";
}

ResourceType resource_type_from(std::string_view n) {
  if (n == "Patient") return ResourceType::patient;
  if (n == "Condition") return ResourceType::condition;
  if (n == "Observation") return ResourceType::observation;
  if (n == "MedicationRequest") return ResourceType::medication_request;
  if (n == "MedicationStatement") return ResourceType::medication_statement;
  if (n == "MedicationAdministration") return ResourceType::medication_administration;
  if (n == "Procedure") return ResourceType::procedure;
  if (n == "Medication") return ResourceType::medication;
  return ResourceType::other;
}

std::string CodeableConcept::code_in(std::string_view system) const {
  for (const auto& c : codings)
    if (c.system == system) return c.code;
  return {};
}

std::string Header::key() const {
  return std::string(to_string(type)) + "/" + id;
}

Header& header(Resource& r) {
  return std::visit([](auto& x) -> Header& { return x.h; }, r);
}
const Header& header(const Resource& r) {
  return std::visit([](const auto& x) -> const Header& { return x.h; }, r);
}
const CodeableConcept* code_of(const Resource& r) {
  if (auto* o = std::get_if<Observation>(&r)) return &o->code;
  if (auto* c = std::get_if<Condition>(&r)) return &c->code;
  if (auto* p = std::get_if<Procedure>(&r)) return &p->code;
  return nullptr;
}

}  // namespace cf::fhir
