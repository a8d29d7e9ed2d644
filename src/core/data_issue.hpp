#pragma once
// Data problems are reported, not thrown (STYLE.md practice 3): each carries where it was found (file and
// line, or bundle entry, or URL), which resource, and the FHIR element path, so a data manager can find and
// fix it.
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace cf {

enum class Severity { error, warning, info };
const char* to_string(Severity s);

struct DataIssue {
  Severity severity = Severity::warning;
  std::string kind;      // stable machine key, e.g. "json-syntax", "unit-unconvertible", "duplicate-resource"
  std::string location;  // "dir/Observation.ndjson:17", "bundle.json entry[3]"
  std::string resource;  // "Observation/abc" when known
  std::string path;      // FHIR element path, e.g. "Observation.valueQuantity.unit"
  std::string message;   // one line, no clinical values beyond what is needed to fix the data
};

// Collects issues from every stage. Thread-safe; keeps every issue (they are written to data_issues.ndjson)
// and counts per kind for the manifest.
class IssueLog {
 public:
  void add(DataIssue issue);
  void add(Severity s, std::string kind, std::string location, std::string resource, std::string path,
           std::string message);
  void merge(IssueLog&& other);
  std::vector<DataIssue> issues() const;
  std::map<std::string, std::size_t> counts_by_kind() const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<DataIssue> issues_;
};

}  // namespace cf
