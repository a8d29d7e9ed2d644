#pragma once
// JSON resource -> model structs. Problems become data issues with the element path; a resource that cannot
// be used at all (no resourceType, invalid id) is rejected and counted, never silently dropped.
#include <optional>
#include <string>
#include <vector>

#include "core/data_issue.hpp"
#include "fhir/model.hpp"
#include "json/json.hpp"

namespace cf::fhir {

struct Extracted {
  std::optional<Resource> resource;  // set for the types the tool reads (unless placed `into` a vector)
  std::string type_name;             // resourceType as written ("" when missing)
  bool rejected = false;             // a data issue explains why
};

// `fallback_id` is used when the resource has no id (a transaction entry identified only by its fullUrl).
// With `into`, a resource the tool reads is appended to it (and `resource` left empty), not moved there.
Extracted extract_resource(const json::Value& v, const Origin& origin, IssueLog& issues,
                           std::string_view fallback_id = {}, std::vector<Resource>* into = nullptr);

// A CodeableConcept read exactly as the resources' are (for the line prefilter, which parses one element of
// a line); problems go to `issues` under `path`.
CodeableConcept extract_codeable_concept(const json::Value& v, std::string_view path, IssueLog& issues);

// FHIR id rule: [A-Za-z0-9\-\.]{1,64}
bool valid_id(std::string_view id);

}  // namespace cf::fhir
