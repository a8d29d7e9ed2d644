#include "terminology/spill.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/files.hpp"
#include "core/temp_file.hpp"
#include "fhir/binary.hpp"

namespace cf::terminology {

namespace fs = std::filesystem;

namespace {

// A bucket's write buffer: 32 KB, smaller with many buckets so that all of them together stay near 8 MB (each
// is written out once it holds this much, so it holds at most this and one record).
std::size_t buffer_bytes(std::size_t buckets) {
  return std::clamp<std::size_t>((std::size_t{8} << 20) / std::max<std::size_t>(buckets, 1), 8u << 10,
                                 32u << 10);
}
constexpr std::uint32_t kMaxRecord = 1u << 30;

}  // namespace

std::size_t spill_bucket_count(std::uint64_t input_bytes, std::uint64_t open_files_limit) {
  std::uint64_t n =
      input_bytes == 0 ? 256 : std::clamp<std::uint64_t>(input_bytes / (std::uint64_t{40} << 20), 16, 1024);
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

Result<std::unique_ptr<SpillBuckets>> SpillBuckets::create(const fs::path& dir, std::size_t partitions,
                                                           std::size_t files) {
  std::unique_ptr<SpillBuckets> s(new SpillBuckets(dir));
  s->partitions_ = std::max<std::size_t>(partitions, 1);
  const std::size_t n = std::clamp<std::size_t>(files, 1, s->partitions_);
  s->per_file_ = (s->partitions_ + n - 1) / n;
  for (std::size_t b = 0; b < n; ++b) {
    auto f = open_temp_file(dir);
    if (!f) return f.error();
    s->files_.emplace_back(*f);
    s->loaded_.push_back(std::make_unique<Loaded>());
  }
  s->pending_.resize(n);
  s->buffer_ = buffer_bytes(n);
  for (std::size_t b = 0; b < s->partitions_; ++b) ++s->loaded_[b / s->per_file_]->unread;
  s->consumed_.assign(s->partitions_, 0);
  return s;
}

// A record: its payload's length and its partition (4 bytes each, host order: the file lives as long as the
// run), then the resource in fhir/binary.hpp's form.
Status SpillBuckets::write(std::size_t b, const fhir::Resource& r) {
  if (!failed_.ok()) return failed_;
  const std::size_t f = b / per_file_;
  std::string& buf = pending_.at(f);
  if (buf.capacity() < buffer_) buf.reserve(buffer_ + (buffer_ >> 2));
  const std::size_t start = buf.size();
  buf.append(8, '\0');
  try {
    fhir::encode(r, buf);
  } catch (...) {
    buf.resize(start);  // no half record in the file
    throw;
  }
  const auto n = static_cast<std::uint32_t>(buf.size() - start - 8);
  const auto part = static_cast<std::uint32_t>(b);
  std::memcpy(buf.data() + start, &n, 4);
  std::memcpy(buf.data() + start + 4, &part, 4);
  bytes_ += buf.size() - start;
  if (buf.size() < buffer_) return Status::success();
  if (auto w = flush(f); !w) failed_ = w;
  return failed_;
}

std::size_t SpillBuckets::bytes_pending() const {
  std::size_t n = 0;
  for (const auto& p : pending_) n += p.size();
  return n;
}

Status SpillBuckets::flush(std::size_t f) {
  std::string& buf = pending_[f];
  auto w = write_all(::fileno(files_[f].get()), buf.data(), buf.size(), file_label(f),
                     "cannot write a spill file");
  if (!w) {
    // The run fails with this error: what is pending is not kept (nor written again, in part twice), and
    // write() fails every later record with it.
    std::string().swap(buf);
    return w;
  }
  buf.clear();
  return Status::success();
}

std::string SpillBuckets::file_label(std::size_t f) const {
  return dir_.string() + " (spill file " + std::to_string(f) + ")";
}

Result<std::shared_ptr<const SpillBuckets::Contents>> SpillBuckets::contents(std::size_t b, bool consume) {
  const std::size_t f = b / per_file_;
  Loaded& l = *loaded_.at(f);
  std::lock_guard lock(l.mu);
  std::shared_ptr<const Contents> loaded = l.contents;
  if (!loaded) {
    std::FILE* file = files_[f].get();
    if (!failed_.ok()) return failed_.error();  // the file lacks what could not be written
    if (auto w = flush(f); !w) return w.error();
    std::string().swap(pending_[f]);  // written for good: its buffer goes
    struct stat st {};
    if (::fstat(::fileno(file), &st) != 0)
      return make_error(std::string("cannot read back a spill file: ") + std::strerror(errno), file_label(f));
    auto c = std::make_shared<Contents>();
    std::string& s = c->bytes;
    s.assign(static_cast<std::size_t>(st.st_size), '\0');
    for (std::size_t got = 0; got < s.size();) {
      const ssize_t k = ::pread(::fileno(file), s.data() + got, s.size() - got, static_cast<off_t>(got));
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0)
        return make_error(std::string("cannot read back a spill file: ") +
                              (k == 0 ? "it is shorter than written" : std::strerror(errno)),
                          file_label(f));
      got += static_cast<std::size_t>(k);
    }
    c->starts.resize(per_file_);
    for (std::size_t at = 0; at < s.size();) {
      std::uint32_t n = 0, part = 0;
      if (s.size() - at < 8) return make_error("spill file is truncated", file_label(f));
      std::memcpy(&n, s.data() + at, 4);
      std::memcpy(&part, s.data() + at + 4, 4);
      if (n > kMaxRecord || n > s.size() - at - 8 || part / per_file_ != f)
        return make_error("spill file is truncated or corrupt", file_label(f));
      c->starts[part % per_file_].push_back(at + 8);
      at += 8 + std::size_t{n};
    }
    loaded = std::move(c);
    if (consume) l.contents = loaded;
  }
  // After the last of its partitions the file is not needed again: its disk space goes back (a failure only
  // keeps it until the end). A partition read twice counts once, so that it cannot release its neighbours.
  if (consume && !consumed_[b]) {
    consumed_[b] = 1;
    if (--l.unread == 0) {
      l.contents.reset();
      [[maybe_unused]] const int truncated = ::ftruncate(::fileno(files_[f].get()), 0);
    }
  }
  return loaded;
}

Status SpillBuckets::read(std::size_t b, const std::function<void(std::shared_ptr<fhir::Resource>&&)>& each,
                          bool consume) {
  auto loaded = contents(b, consume);
  if (!loaded) return loaded.error();
  const std::string& bytes = (*loaded)->bytes;
  for (const std::size_t at : (*loaded)->starts[b % per_file_]) {
    std::uint32_t n = 0;
    std::memcpy(&n, bytes.data() + at - 8, 4);
    std::string_view in(bytes.data() + at, n);
    auto r = std::make_shared<fhir::Resource>();
    if (!fhir::decode_into(in, *r) || !in.empty())
      return make_error("spill file holds a record that cannot be read back", file_label(b / per_file_));
    each(std::move(r));
  }
  return Status::success();
}

}  // namespace cf::terminology
