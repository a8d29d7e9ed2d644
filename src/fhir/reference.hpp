#pragma once
#include <string>
#include <string_view>

namespace cf::fhir {

// "Patient/123" -> "123"; "https://ehr.example/fhir/Patient/123" -> "123" (the URL is read, never fetched:
// RELIABILITY H1); "Patient/123/_history/2" -> "123". Anything else (Group/..., urn:uuid:..., "#x") -> "".
std::string patient_id_from_reference(std::string_view ref);

// "Observation/abc" from an absolute or relative literal reference; "" when it is not one.
std::string relative_reference(std::string_view ref);

}  // namespace cf::fhir
