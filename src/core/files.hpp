#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cf {

// Writes to "<path>.tmp" (created afresh, never through a symlink), fsyncs, renames it over `path` and fsyncs
// the directory: readers see the old file or the new one, never half, and the new one survives a crash once
// this returns. Files are created 0600: outputs name patients.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content);

// The same for output written piece by piece (results of hundreds of thousands of patients): nothing is
// visible under `path` until commit() succeeds; a destroyed, uncommitted file is removed.
class AtomicFile {
 public:
  static Result<std::unique_ptr<AtomicFile>> create(const std::filesystem::path& path);
  ~AtomicFile();
  Status write(std::string_view data);
  Status commit();

 private:
  AtomicFile(int fd, std::string tmp, std::filesystem::path path)
      : fd_(fd), tmp_(std::move(tmp)), path_(std::move(path)) {}
  Status flush();
  int fd_;
  std::string tmp_;
  std::filesystem::path path_;
  std::string buf_;
  Error error_;
  bool failed_ = false, done_ = false;
};

}  // namespace cf
