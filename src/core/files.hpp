#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/sha256.hpp"

namespace cf {

// Creates `dir` (and its parents) or checks the one that is there, and makes it 0700 (RELIABILITY H4). An
// existing folder is refused when it is a symbolic link (whoever can change the link chooses where patient
// data goes), not a folder, owned by another user, or writable by others (anyone may have put files or
// links in it). `what` names the folder in errors ("output folder"). `tightened`, when given, is set when an
// existing folder others could read or enter was made private (a shared folder stops being shared: say so).
Status make_private_dir(const std::filesystem::path& dir, std::string_view what, bool* tightened = nullptr);

// Writes all of `p` to `fd`, again after a partial write or an interrupted one. The error reads
// "<what>: <reason>", with `where` (the file) as its context.
Status write_all(int fd, const char* p, std::size_t size, const std::string& where,
                 std::string_view what = "cannot write");

// Removes `path` if it is there (a missing file is success), and makes the removal durable (fsync of the
// folder).
Status remove_file(const std::filesystem::path& path);

// What was written to a file, for the manifest (RELIABILITY S5): a reader checks a file it received against
// these (sha256sum, wc -c, wc -l) before trusting it.
struct FileFingerprint {
  std::string sha256;  // lower-case hex
  std::uint64_t bytes = 0;
  std::uint64_t lines = 0;  // newline characters (a CSV's header line included)
};

// Writes to "<path>.tmp" (created afresh, never through a symlink), fsyncs, renames it over `path` and fsyncs
// the directory: readers see the old file or the new one, never half, and the new one survives a crash once
// this returns. Files are created 0600: outputs name patients.
Result<FileFingerprint> write_file_atomic(const std::filesystem::path& path, std::string_view content);

// The same for output written piece by piece (results of hundreds of thousands of patients): nothing is
// visible under `path` until commit() succeeds; a destroyed, uncommitted file is removed.
class AtomicFile {
 public:
  static Result<std::unique_ptr<AtomicFile>> create(const std::filesystem::path& path);
  ~AtomicFile();
  Status write(std::string_view data);
  Status commit();
  // What was written; complete once commit() succeeded.
  const FileFingerprint& fingerprint() const { return fingerprint_; }

 private:
  AtomicFile(int fd, std::string tmp, std::filesystem::path path)
      : fd_(fd), tmp_(std::move(tmp)), path_(std::move(path)) {}
  Status flush();
  int fd_;
  std::string tmp_;
  std::filesystem::path path_;
  std::string buf_;
  Sha256 hash_;
  FileFingerprint fingerprint_;
  Error error_;
  bool failed_ = false, done_ = false;
};

}  // namespace cf
