#include "terminology/spill.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/temp_file.hpp"
#include "fhir/extract.hpp"
#include "json/json.hpp"

namespace cf::terminology {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kBufferBytes = 64u << 10;
constexpr std::uint32_t kMaxField = 1u << 30;
constexpr int kFields = 6;  // id, patient, medication reference, location, source, JSON

void put_field(std::string& rec, std::string_view s) {
  const auto n = static_cast<std::uint32_t>(s.size());
  char len[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                 static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
  rec.append(len, 4);
  rec.append(s);
}

bool get_field(std::FILE* f, std::string& out) {
  unsigned char len[4];
  if (std::fread(len, 1, 4, f) != 4) return false;
  const std::uint32_t n =
      len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<std::uint32_t>(len[3]) << 24);
  if (n > kMaxField) return false;
  out.resize(n);
  return n == 0 || std::fread(out.data(), 1, n, f) == n;
}

}  // namespace

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
    s->buffers_.emplace_back(new char[kBufferBytes]);
    std::setvbuf(*f, s->buffers_.back().get(), _IOFBF, kBufferBytes);
  }
  return s;
}

Status SpillBuckets::write(std::size_t b, const fhir::Resource& r) {
  const fhir::Header& h = fhir::header(r);
  std::string rec;
  rec.reserve(h.raw.size() + h.origin.location.size() + h.origin.source.size() + 96);
  put_field(rec, h.id);
  put_field(rec, h.patient_id);
  const auto* mu = std::get_if<fhir::MedicationUse>(&r);
  put_field(rec, mu ? std::string_view(mu->medication_reference) : std::string_view());
  put_field(rec, h.origin.location);
  put_field(rec, h.origin.source);
  put_field(rec, h.raw);
  std::FILE* f = files_.at(b).get();
  if (std::fwrite(rec.data(), 1, rec.size(), f) != rec.size())
    return make_error(std::string("cannot write a spill file: ") + std::strerror(errno),
                      dir_.string() + " (spill bucket " + std::to_string(b) + ")");
  bytes_ += rec.size();
  return Status::success();
}

Status SpillBuckets::read(std::size_t b, const std::function<void(fhir::Resource&&)>& each) {
  const std::string name = dir_.string() + " (spill bucket " + std::to_string(b) + ")";
  std::FILE* f = files_.at(b).get();
  if (std::fflush(f) != 0 || std::fseek(f, 0, SEEK_SET) != 0)
    return make_error(std::string("cannot read back a spill file: ") + std::strerror(errno), name);
  std::string fields[kFields];
  json::LineDocument line_doc;
  json::Document& doc = line_doc;
  json::ParseError perr;
  IssueLog already_reported;
  while (true) {
    const int c = std::fgetc(f);
    if (c == EOF) break;
    std::ungetc(c, f);
    for (auto& field : fields)
      if (!get_field(f, field)) return make_error("spill file is truncated or corrupt", name);
    if (!json::parse(fields[5], doc, perr))
      return make_error("spill file holds invalid JSON: " + perr.message, name);
    auto ex = fhir::extract_resource(doc, fhir::Origin{fields[3], fields[4]}, already_reported, fields[0]);
    if (!ex.resource) return make_error("a spilled resource could not be read back", name);
    fhir::Header& h = fhir::header(*ex.resource);
    h.id = fields[0];
    h.patient_id = fields[1];
    if (auto* mu = std::get_if<fhir::MedicationUse>(&*ex.resource)) mu->medication_reference = fields[2];
    each(std::move(*ex.resource));
  }
  if (std::ferror(f))
    return make_error(std::string("cannot read a spill file: ") + std::strerror(errno), name);
  // The bucket is not needed again: give its disk space back (a failure only keeps it until the end).
  [[maybe_unused]] const int truncated = ::ftruncate(::fileno(f), 0);
  return Status::success();
}

}  // namespace cf::terminology
