#include "terminology/spill.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/temp_file.hpp"
#include "fhir/binary.hpp"

namespace cf::terminology {

namespace fs = std::filesystem;

namespace {

// A bucket's write buffer: 32 KB, smaller with many buckets so that all of them together stay within 8 MB.
std::size_t buffer_bytes(std::size_t buckets) {
  return std::clamp<std::size_t>((std::size_t{8} << 20) / std::max<std::size_t>(buckets, 1), 8u << 10,
                                 32u << 10);
}
constexpr std::uint32_t kMaxRecord = 1u << 30;

}  // namespace

std::size_t spill_bucket_count(std::uint64_t input_bytes, std::uint64_t open_files_limit) {
  std::uint64_t n =
      input_bytes == 0 ? 1024 : std::clamp<std::uint64_t>(input_bytes / (std::uint64_t{40} << 20), 128, 1024);
  n = std::min<std::uint64_t>(n, open_files_limit > 256 ? (open_files_limit - 128) / 2 : 64);
  return static_cast<std::size_t>(n);
}

std::size_t bucket_of(std::string_view patient_id, std::size_t n) {
  if (n <= 1) return 0;
  // FNV-1a, then a 64-bit finaliser (splitmix64) so that the bits the shard hash used do not decide the
  // bucket.
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : patient_id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<std::size_t>(h % n);
}

Result<std::unique_ptr<SpillBuckets>> SpillBuckets::create(const fs::path& dir, std::size_t n) {
  std::unique_ptr<SpillBuckets> s(new SpillBuckets(dir));
  for (std::size_t b = 0; b < n; ++b) {
    auto f = open_temp_file(dir);
    if (!f) return f.error();
    s->files_.emplace_back(*f);
    s->buffers_.emplace_back(new char[buffer_bytes(n)]);
    std::setvbuf(*f, s->buffers_.back().get(), _IOFBF, buffer_bytes(n));
  }
  return s;
}

Status SpillBuckets::write(std::size_t b, const fhir::Resource& r) {
  std::string& rec = record_;
  rec.assign(4, '\0');
  fhir::encode(r, rec);
  const auto n = static_cast<std::uint32_t>(rec.size() - 4);
  std::memcpy(rec.data(), &n, 4);
  std::FILE* f = files_.at(b).get();
  if (std::fwrite(rec.data(), 1, rec.size(), f) != rec.size())
    return make_error(std::string("cannot write a spill file: ") + std::strerror(errno),
                      dir_.string() + " (spill bucket " + std::to_string(b) + ")");
  bytes_ += rec.size();
  return Status::success();
}

Status SpillBuckets::read(std::size_t b, const std::function<void(std::shared_ptr<fhir::Resource>&&)>& each,
                          bool consume) {
  const std::string name = dir_.string() + " (spill bucket " + std::to_string(b) + ")";
  std::FILE* f = files_.at(b).get();
  if (std::fflush(f) != 0 || std::fseek(f, 0, SEEK_SET) != 0)
    return make_error(std::string("cannot read back a spill file: ") + std::strerror(errno), name);
  std::string rec;
  while (true) {
    std::uint32_t n = 0;
    const std::size_t got = std::fread(&n, 1, 4, f);
    if (got == 0 && std::feof(f)) break;
    if (got != 4 || n > kMaxRecord) return make_error("spill file is truncated or corrupt", name);
    rec.resize(n);
    if (n && std::fread(rec.data(), 1, n, f) != n) return make_error("spill file is truncated", name);
    std::string_view in(rec);
    auto r = std::make_shared<fhir::Resource>();
    if (!fhir::decode_into(in, *r) || !in.empty())
      return make_error("spill file holds a record that cannot be read back", name);
    each(std::move(r));
  }
  if (std::ferror(f))
    return make_error(std::string("cannot read a spill file: ") + std::strerror(errno), name);
  if (!consume) return Status::success();
  // The bucket is not needed again: give its disk space back (a failure only keeps it until the end).
  [[maybe_unused]] const int truncated = ::ftruncate(::fileno(f), 0);
  return Status::success();
}

}  // namespace cf::terminology
