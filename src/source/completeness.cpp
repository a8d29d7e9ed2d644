#include "source/source.hpp"

#include "fhir/reference.hpp"
#include "transport/smart_auth.hpp"

namespace cf::source {

bool Completeness::incomplete(const std::string& patient, const std::string& type) const {
  if (run_types.empty() && patient_types.empty() && foreign_types.empty()) return false;  // most nights
  if (run_types.count("*") || run_types.count(type)) return true;
  auto it = patient_types.find(patient);
  if (it != patient_types.end() && (it->second.count("*") || it->second.count(type))) return true;
  auto f = foreign_types.find(patient);
  return f != foreign_types.end() && f->second.count(type);
}

void Completeness::merge(const Completeness& other) {
  run_types.insert(other.run_types.begin(), other.run_types.end());
  for (const auto& [p, types] : other.patient_types) patient_types[p].insert(types.begin(), types.end());
  for (const auto& [p, types] : other.foreign_types) foreign_types[p].insert(types.begin(), types.end());
}

std::string foreign_subject_patient(const std::string& subject) {
  return subject.find("://") == std::string::npos ? std::string() : fhir::patient_id_from_reference(subject);
}

Status mark_types_not_granted(transport::SmartAuth& smart, const std::vector<std::string>& types,
                              Completeness& completeness, IssueLog& issues, const std::string& where,
                              const std::function<void(const std::string&)>& log) {
  auto missing = smart.types_not_granted(types);
  if (!missing) return missing.error();
  for (const auto& t : *missing) {
    completeness.run_types.insert(t);
    issues.add(Severity::error, "scope-not-granted", where, "", "",
               "the access token does not grant reading and searching " + t +
                   ": every decision that needs it is unknown");
    if (log) log("the access token does not grant system/" + t + ".rs: " + t + " is incomplete");
  }
  return Status::success();
}

}  // namespace cf::source
