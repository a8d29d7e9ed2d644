#pragma once
// Reads a directory (recursively, in name order) or a single file of FHIR JSON:
//   *.ndjson  Bulk Data style, one resource per line;
//   *.json    a Bundle (collection, searchset, transaction, batch, nested Bundles) or a single resource.
// Bundles are streamed entry by entry; urn:uuid and absolute references are resolved within the Bundle.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "source/line_filter.hpp"
#include "source/source.hpp"

namespace cf::source {

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

class FileSource : public Source {
 public:
  explicit FileSource(std::filesystem::path root, std::size_t page_size = 1000);
  // Several folders or files, read one after the other (each in name order).
  explicit FileSource(std::vector<std::filesystem::path> roots, std::size_t page_size = 1000);
  // Skip NDJSON lines that cannot matter before parsing them (see line_filter.hpp). Without a filter every
  // line is parsed; the candidates are the same either way (tests/source checks it).
  void set_line_filter(std::shared_ptr<const LineFilter> f) { filter_ = std::move(f); }
  // Threads that parse NDJSON in parallel (0: one per core). Results are merged in file order, so the output
  // is the same for any number.
  void set_threads(std::size_t n);
  std::string describe() const override;
  std::uint64_t size_hint() const override;  // the input files' total size
  Status read(const Sink& sink, IssueLog& issues) override;
  const Stats& stats() const override { return stats_; }
  const Completeness& completeness() const override { return completeness_; }

 private:
  void read_ndjson(const std::filesystem::path& file, const Sink& sink, IssueLog& issues);
  void read_json(const std::filesystem::path& file, const Sink& sink, IssueLog& issues);
  struct Chunk;
  FilePtr open_input(const std::string& name, const std::filesystem::path& file, IssueLog& issues);
  void parse_chunk(Chunk& c, const std::string& name) const;
  static void mark_incomplete(std::string_view raw, const std::string& location, IssueLog& issues,
                              bool parsed, Completeness& completeness);
  std::string display(const std::filesystem::path& p) const;

  std::vector<std::filesystem::path> roots_;
  std::size_t page_size_;
  Stats stats_;
  Completeness completeness_;
  std::shared_ptr<const LineFilter> filter_;
  std::size_t threads_ = 1;
};

}  // namespace cf::source
