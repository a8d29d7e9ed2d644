#pragma once
// Temporary bucket files for the resources a run keeps when they outgrow memory: each resource goes to the
// bucket of its patient, so a bucket can later be read back and evaluated alone. A record is the extracted
// resource in fhir/binary.hpp's form (with what the source resolved while reading: patient, references,
// origin), so reading it back parses no JSON.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/data_issue.hpp"
#include "core/result.hpp"
#include "fhir/model.hpp"

namespace cf::terminology {

class SpillBuckets {
 public:
  // Creates `n` empty bucket files in `dir`, unlinked at once: they vanish when closed, even after a crash.
  static Result<std::unique_ptr<SpillBuckets>> create(const std::filesystem::path& dir, std::size_t n);
  ~SpillBuckets() = default;
  SpillBuckets(const SpillBuckets&) = delete;
  SpillBuckets& operator=(const SpillBuckets&) = delete;

  std::size_t size() const { return files_.size(); }
  // Appends `r` to bucket `b`. One writer at a time (reads may run on several threads once writing is over).
  Status write(std::size_t b, const fhir::Resource& r);
  // Reads bucket `b` back in the order written; `consume` gives its disk space back afterwards. Each resource
  // is decoded straight into the allocation that will hold it (no moves of a kilobyte-sized variant).
  Status read(std::size_t b, const std::function<void(std::shared_ptr<fhir::Resource>&&)>& each,
              bool consume = true);
  std::uint64_t bytes_written() const { return bytes_; }

 private:
  SpillBuckets(std::filesystem::path dir) : dir_(std::move(dir)) {}
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<std::FILE, Closer>> files_;
  std::vector<std::unique_ptr<char[]>> buffers_;
  std::uint64_t bytes_ = 0;
  std::string record_;  // reused by write(): one allocation for the run, not one per resource
};

// How many buckets a run spills to: enough that a partition holds about 40 MB of input (so that evaluating
// one needs tens of MB whatever the size of the hospital), at least 128; when the size is not known before
// reading (REST, Bulk export: input_bytes 0), the most, 1,024, since a hospital's export may be any size.
// Each bucket is an open file: half of what the soft limit leaves after 128 for sources, outputs and
// connections (systemd's default soft limit is 1,024), at least 64.
std::size_t spill_bucket_count(std::uint64_t input_bytes, std::uint64_t open_files_limit);

// Which of `n` buckets a patient's resources go to; independent of the shard hash, so that the patients
// of one shard still spread over all buckets.
std::size_t bucket_of(std::string_view patient_id, std::size_t n);

}  // namespace cf::terminology
