#pragma once
// Combines the outputs of `run --shard K/N` (K = 1..N) into the outputs one unsharded run would have written:
// candidates.csv, results.ndjson and attrition.csv byte for byte, data issues de-duplicated, and a manifest
// that records the shards. Refuses shards of different trial definitions, mappings, as-of dates or export
// modes.
#include <filesystem>
#include <vector>

#include "core/result.hpp"

namespace cf::app {

struct MergeSummary {
  std::size_t shards = 0, patients = 0, eligible = 0, possible = 0, ineligible = 0;
};

Result<MergeSummary> merge(const std::vector<std::filesystem::path>& shard_dirs,
                           const std::filesystem::path& out);

}  // namespace cf::app
