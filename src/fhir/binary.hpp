#pragma once
// A compact binary form of the extracted model (model.hpp), for resources that a run keeps on disk while
// they wait to be evaluated (terminology/spill.hpp). Reading it back gives the same values as extraction did
// (every field, Header::raw aside), without parsing JSON again. Not an exchange format: written and read by
// the same build within one run.
#include <optional>
#include <string>
#include <string_view>

#include "fhir/model.hpp"

namespace cf::fhir {

// Appends `r` (without Header::raw) to `out`.
void encode(const Resource& r, std::string& out);
// Reads one resource from the front of `in` and advances it; nullopt when the bytes are not one.
std::optional<Resource> decode(std::string_view& in);
// The same, into `r` (which may then be allocated once, where it will live); false when the bytes are not one
// resource (`r` then holds a partial value and `in` is unchanged).
bool decode_into(std::string_view& in, Resource& r);

}  // namespace cf::fhir
