#include "source/source.hpp"

namespace cf::source {

bool Completeness::incomplete(const std::string& patient, const std::string& type) const {
  if (run_types.count("*") || run_types.count(type)) return true;
  auto it = patient_types.find(patient);
  return it != patient_types.end() && (it->second.count("*") || it->second.count(type));
}

}  // namespace cf::source
