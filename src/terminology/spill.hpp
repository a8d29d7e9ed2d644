#pragma once
// Temporary bucket files for the resources a run keeps when they outgrow memory: each resource goes to the
// bucket of its patient, so a bucket can later be read back and evaluated alone. A record is the extracted
// resource in fhir/binary.hpp's form (with what the source resolved while reading: patient, references,
// origin), so reading it back parses no JSON.
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/data_issue.hpp"
#include "core/result.hpp"
#include "fhir/model.hpp"

namespace cf::terminology {

// Several partitions (buckets) share a file: a partition is what is decoded and evaluated at once, and the
// smaller it is, the less memory that takes and the more of it the allocator's per-thread caches recycle
// (decoding a file of 3 MB of records at once made evaluation at 100,000 patients 1.6 times slower than
// decoding it in 8 parts); a file is an open descriptor and a write buffer, and their number is bounded.
class SpillBuckets {
 public:
  // Creates `files` empty bucket files in `dir` for `partitions` partitions (consecutive partitions share a
  // file), unlinked at once: they vanish when closed, even after a crash.
  static Result<std::unique_ptr<SpillBuckets>> create(const std::filesystem::path& dir,
                                                      std::size_t partitions, std::size_t files);
  ~SpillBuckets() = default;
  SpillBuckets(const SpillBuckets&) = delete;
  SpillBuckets& operator=(const SpillBuckets&) = delete;

  std::size_t size() const { return partitions_; }
  // Appends `r` to partition `b`. One writer at a time (reads may run on several threads once writing is
  // over).
  Status write(std::size_t b, const fhir::Resource& r);
  // Reads partition `b` back in the order written. Each resource is decoded straight into the allocation that
  // will hold it (no moves of a kilobyte-sized variant). `consume`: each partition is read once this way;
  // a file is read from disk once for all its partitions, and its disk space given back after the last.
  Status read(std::size_t b, const std::function<void(std::shared_ptr<fhir::Resource>&&)>& each,
              bool consume = true);
  std::uint64_t bytes_written() const { return bytes_; }
  // Encoded records not yet written to their files.
  std::size_t bytes_pending() const;

 private:
  SpillBuckets(std::filesystem::path dir) : dir_(std::move(dir)) {}
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  // A file's records, and where each of its partitions' records start (in the order written), indexed in one
  // pass when the file is read in: a partition's read visits its own records only, instead of stepping
  // through every record of the file (a cache miss each, for each of the file's partitions).
  struct Contents {
    std::string bytes;
    std::vector<std::vector<std::size_t>> starts;  // by partition within the file
  };
  // A file's contents, read from disk on the first read of one of its partitions and kept until the last.
  struct Loaded {
    std::mutex mu;
    std::shared_ptr<const Contents> contents;
    std::size_t unread = 0;  // its partitions not yet consumed
  };
  // The records of partition `b`'s file.
  Result<std::shared_ptr<const Contents>> contents(std::size_t b, bool consume);
  Status flush(std::size_t f);                  // file `f`'s pending records to disk
  std::string file_label(std::size_t f) const;  // "DIR (spill file F)", for errors
  std::filesystem::path dir_;
  std::size_t partitions_ = 0, per_file_ = 1;
  std::vector<std::unique_ptr<std::FILE, Closer>> files_;  // written with write(2), not stdio
  // Each file's records not yet written: encoded straight into it, written when it holds `buffer_` bytes
  // (stdio's fwrite cost a lock and a copy for each record).
  std::vector<std::string> pending_;
  std::size_t buffer_ = 0;
  Status failed_ = Status::success();  // the first write that failed: every later one fails with it
  std::vector<std::unique_ptr<Loaded>> loaded_;
  std::vector<char> consumed_;  // by partition, guarded by its file's Loaded::mu
  std::uint64_t bytes_ = 0;
};

// How many bucket files a run spills to: enough that a file holds about 40 MB of input (so that evaluating
// its partitions needs a few MB whatever the size of the hospital), at least 16 (of 10,000 patients a file
// then holds some 600, a partition some 80); when the size is not known before reading (REST, Bulk export:
// input_bytes 0), 256: a 26 GB export (500,000 patients) then spills about 7 MB a file, and a ten times
// larger one 70 MB. Not more: creating a scratch file costs 0.3-1 ms on ext4 (a new inode), paid for every
// file as soon as a run spills at all (16 instead of 128 took a fifth off a 10,000-patient run's wall time).
// Each is an open file: half of what the soft limit leaves after 128 for sources, outputs and connections
// (systemd's default soft limit is 1,024), at least 64.
std::size_t spill_bucket_count(std::uint64_t input_bytes, std::uint64_t open_files_limit);

// Which of `n` buckets a patient's resources go to; independent of the shard hash, so that the patients
// of one shard still spread over all buckets.
std::size_t bucket_of(std::string_view patient_id, std::size_t n);

}  // namespace cf::terminology
