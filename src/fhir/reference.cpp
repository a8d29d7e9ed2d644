#include "fhir/reference.hpp"

#include "fhir/extract.hpp"

namespace cf::fhir {

std::string relative_reference(std::string_view ref) {
  if (ref.empty() || ref[0] == '#' || ref.rfind("urn:", 0) == 0) return {};
  if (auto h = ref.find("/_history/"); h != std::string_view::npos) ref = ref.substr(0, h);
  auto slash = ref.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return {};
  auto prev = ref.rfind('/', slash - 1);
  std::string_view type =
      prev == std::string_view::npos ? ref.substr(0, slash) : ref.substr(prev + 1, slash - prev - 1);
  std::string_view id = ref.substr(slash + 1);
  if (type.empty() || !valid_id(id)) return {};
  for (char c : type)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return {};
  return std::string(type) + "/" + std::string(id);
}

std::string patient_id_from_reference(std::string_view ref) {
  std::string rel = relative_reference(ref);
  if (rel.rfind("Patient/", 0) != 0) return {};
  return rel.substr(8);
}

}  // namespace cf::fhir
