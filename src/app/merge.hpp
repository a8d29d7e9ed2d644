#pragma once
// Combines the outputs of `run --shard K/N` (K = 1..N) into the outputs one unsharded run would have written:
// candidates.csv, results.ndjson and attrition.csv byte for byte, data issues de-duplicated, report.html and
// group.json written from the lines read back (report/result_reader.hpp) in the shards' export mode, and a
// manifest that records the shards. report.html differs from an unsharded run's only in its run metadata:
// the source (marked "merged from N shards"), the earliest shard start and latest finish. Refuses shards of
// different trial definitions, mappings, as-of dates or export modes, de-identified shards (their withheld
// scores and pseudonyms cannot give the unsharded order), and a trial definition or mapping files that can no
// longer be read at the paths the manifests name with the SHA-256 they recorded.
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
