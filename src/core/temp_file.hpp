#pragma once
// Scratch files for data that outgrow memory during a run (spilled resources, finished result lines). They
// are created 0600 in a folder the caller chooses (never a tmpfs that would hold them in RAM anyway) and
// unlinked at once, so nothing with patient data is left behind, even when the run is killed.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cf {

// An unlinked temporary file in `dir`, open for reading and writing; the caller closes it.
Result<std::FILE*> open_temp_file(const std::filesystem::path& dir);

// Appends lines and reads any of them back by where they were put.
class TempLines {
 public:
  struct Ref {
    std::uint64_t offset = 0;
    std::uint32_t size = 0;
  };
  static Result<std::unique_ptr<TempLines>> create(const std::filesystem::path& dir);
  ~TempLines();
  TempLines(const TempLines&) = delete;
  TempLines& operator=(const TempLines&) = delete;

  Result<Ref> append(std::string_view text);
  Status read(Ref ref, std::string& out);

 private:
  explicit TempLines(std::FILE* f);
  std::FILE* f_;
  std::unique_ptr<char[]> buffer_;
  std::uint64_t end_ = 0;
  bool dirty_ = false;
};

}  // namespace cf
