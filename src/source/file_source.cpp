#include "source/file_source.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/task_pool.hpp"
#include "core/text.hpp"
#include "fhir/extract.hpp"
#include "fhir/reference.hpp"
#include "json/json.hpp"

namespace cf::source {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxLine = 64u * 1024u * 1024u;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Finds `"key" : "value"` in raw text, for attributing a record that failed to parse.
std::string sniff_string(std::string_view raw, std::string_view key, std::string_view value_prefix = {}) {
  std::string needle = "\"" + std::string(key) + "\"";
  std::size_t pos = 0;
  while ((pos = raw.find(needle, pos)) != std::string_view::npos) {
    std::size_t p = pos + needle.size();
    while (p < raw.size() && (raw[p] == ' ' || raw[p] == ':' || raw[p] == '\t')) ++p;
    if (p < raw.size() && raw[p] == '"') {
      std::size_t e = raw.find('"', p + 1);
      if (e != std::string_view::npos) {
        std::string_view v = raw.substr(p + 1, e - p - 1);
        if (v.substr(0, value_prefix.size()) == value_prefix) return std::string(v);
      }
    }
    pos = p;
  }
  return {};
}

// Resolves references inside one Bundle: fullUrl -> "Type/id".
class BundleScope {
 public:
  void add(const std::string& full_url, const fhir::Header& h) {
    if (!full_url.empty()) map_[full_url] = h.key();
  }
  std::string resolve(const std::string& ref) const {
    auto it = map_.find(ref);
    return it == map_.end() ? std::string() : it->second;
  }
  bool empty() const { return map_.empty(); }

 private:
  std::unordered_map<std::string, std::string> map_;
};

// Sets header.patient_id from the subject reference, using the Bundle's fullUrls when given. A resource whose
// subject is an absolute reference to another server is not attributed, but its patient type is marked
// incomplete for the patient of that id here: it may be theirs, and if it is, a decision that reads "none"
// would be a "no" for what was not read.
void resolve_subject(fhir::Resource& r, const BundleScope* scope, IssueLog& issues,
                     Completeness& completeness) {
  fhir::Header& h = fhir::header(r);
  if (h.type == fhir::ResourceType::patient || h.type == fhir::ResourceType::medication) return;
  if (auto* m = std::get_if<fhir::MedicationUse>(&r); m && scope && !m->medication_reference.empty())
    if (auto to = scope->resolve(m->medication_reference); !to.empty()) m->medication_reference = to;
  std::string ref = h.subject;
  if (scope)
    if (auto to = scope->resolve(ref); !to.empty()) ref = to;
  // An absolute reference that no fullUrl of the Bundle resolves names a patient on another server: it is
  // never taken for a local patient, nor fetched (RELIABILITY H1).
  const bool absolute = ref.find("://") != std::string::npos;
  h.patient_id = absolute ? std::string() : fhir::patient_id_from_reference(ref);
  if (h.patient_id.empty()) {
    const char* why = h.subject.empty() ? "no subject: the resource cannot be attributed to a patient"
                      : absolute        ? kForeignSubject
                                        : "subject is not a resolvable Patient reference";
    issues.add(Severity::warning, "unattributed-resource", h.origin.location, h.key(),
               std::string(fhir::to_string(h.type)) + ".subject", why);
    if (auto named = foreign_subject_patient(ref); !named.empty())
      completeness.foreign_types[named].insert(std::string(fhir::to_string(h.type)));
  }
}

}  // namespace

FileSource::FileSource(fs::path root, std::size_t page_size)
    : roots_{std::move(root)}, page_size_(page_size) {}
FileSource::FileSource(std::vector<fs::path> roots, std::size_t page_size)
    : roots_(std::move(roots)), page_size_(page_size) {}

void FileSource::set_threads(std::size_t n) {
  threads_ = n == 0 ? std::max<std::size_t>(1, std::thread::hardware_concurrency()) : n;
}

std::string FileSource::describe() const {
  std::string s = "files:";
  for (std::size_t i = 0; i < roots_.size(); ++i) s += (i ? "," : "") + roots_[i].string();
  return s;
}

std::uint64_t FileSource::size_hint() const {
  std::uint64_t total = 0;
  for (const auto& root : roots_) {
    std::error_code ec;
    if (fs::is_regular_file(root, ec)) {
      const auto n = fs::file_size(root, ec);
      if (!ec) total += n;
      continue;
    }
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::error_code size_ec;
      if (!it->is_regular_file(size_ec)) continue;
      const auto n = it->file_size(size_ec);
      if (!size_ec) total += n;  // file_size() gives (uintmax_t)-1 on error
    }
  }
  return total;
}

std::string FileSource::display(const fs::path& p) const {
  return p.lexically_normal().string();
}

void FileSource::mark_incomplete(std::string_view raw, const std::string& location, IssueLog& issues,
                                 bool parsed, Completeness& completeness) {
  std::string type = sniff_string(raw, "resourceType");
  // Valid JSON that is not a resource of a type the tool reads (a bulk-export log line, say) loses nothing.
  if (parsed && fhir::resource_type_from(type) == fhir::ResourceType::other) return;
  std::string patient;
  if (type == "Patient") {
    patient = sniff_string(raw, "id");
  } else {
    patient = fhir::patient_id_from_reference(sniff_string(raw, "reference", "Patient/"));
  }
  const std::string t = fhir::resource_type_from(type) == fhir::ResourceType::other ? "*" : type;
  if (!type.empty() && t == "*" && type != "Bundle")
    return;  // a type the tool does not read: nothing is lost
  if (!patient.empty()) {
    completeness.patient_types[patient].insert(t);
  } else {
    completeness.run_types.insert(t);
    issues.add(Severity::error, "incomplete-data", location, "", "",
               "a record that failed to parse cannot be attributed to a patient: decisions that depend on " +
                   (t == "*" ? std::string("any resource type") : t) + " are unknown for every patient");
  }
}

Status FileSource::read(const Sink& sink, IssueLog& issues) {
  std::vector<fs::path> files;
  for (const auto& root : roots_) {
    std::error_code ec;
    if (!fs::exists(root, ec)) return make_error("no such file or directory", root.string());
    std::vector<fs::path> here;
    if (fs::is_directory(root, ec)) {
      for (auto it =
               fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file()) here.push_back(it->path());
      }
      if (ec) return make_error("cannot list directory: " + ec.message(), root.string());
    } else {
      here.push_back(root);
    }
    std::sort(here.begin(), here.end());
    files.insert(files.end(), here.begin(), here.end());
  }
  for (const auto& f : files) {
    const std::string name = f.filename().string();
    if (ends_with(name, ".ndjson")) {
      read_ndjson(f, sink, issues);
    } else if (ends_with(name, ".json")) {
      read_json(f, sink, issues);
    } else {
      continue;  // README.md and other files next to the data are not input
    }
    ++stats_.files;
  }
  if (stats_.files == 0) return make_error("no *.ndjson or *.json files found", describe());
  return Status::success();
}

// One unit of parallel work: the complete lines of a slice of an NDJSON file, parsed into resources with
// their own issues, counts and completeness, delivered in file order (so output never depends on thread
// count).
struct FileSource::Chunk {
  std::unique_ptr<char[]> data;  // complete lines in [begin, end)
  std::size_t begin = 0, end = 0;
  // Where its lines are numbered from: the number after the previous chunk's last line (which that chunk
  // gives once it has split its lines) plus the lines the reader skipped in between. The reading thread does
  // not scan every byte for newlines to number the chunks itself (4% of a 100,000-patient run's wall time).
  std::shared_future<std::size_t> after_previous;
  std::size_t skipped_before = 0;
  std::promise<std::size_t> after_this;
  std::vector<fhir::Resource> resources;
  IssueLog issues;
  Stats stats;
  Completeness completeness;
};

void FileSource::parse_chunk(Chunk& c, const std::string& name) const {
  // First the lines worth parsing, then the parsing: `resources` is sized once (a resource is about a
  // kilobyte to move, and growing the vector moved each one again).
  struct Kept {
    std::string_view line;
    std::size_t line_no;
  };
  thread_local std::vector<Kept> kept;
  kept.clear();
  // The counter of the type counted last: the lines of a file are nearly all of one type, so most lines
  // skip the map lookup (map nodes stay where they are).
  struct Last {
    std::string_view type;
    std::size_t* n = nullptr;
  } last_skipped, last_prefiltered;
  auto count = [](auto& counts, std::string_view type, Last& last) -> std::size_t& {
    if (!last.n || last.type != type) last = {type, &counts[std::string(type)]};
    return *last.n;
  };
  std::size_t line_no = 0;  // within the chunk, until the first line's number is known
  std::string_view rest(c.data.get() + c.begin, c.end - c.begin);
  while (!rest.empty()) {
    const void* nl = std::memchr(rest.data(), '\n', rest.size());
    const std::size_t len =
        nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - rest.data()) : rest.size();
    std::string_view line = rest.substr(0, len);
    rest.remove_prefix(nl ? len + 1 : len);
    ++line_no;
    if (line.size() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    if (filter_) {
      std::string_view type;
      switch (filter_->check(line, type)) {
        case LineFilter::Verdict::other_type:
          ++count(c.stats.skipped_by_type, type, last_skipped);
          continue;
        case LineFilter::Verdict::irrelevant:
          ++count(c.stats.prefiltered_by_type, type, last_prefiltered);
          continue;
        case LineFilter::Verdict::parse:
          break;
      }
    }
    kept.push_back({line, line_no});
  }
  const std::size_t before = c.after_previous.get() + c.skipped_before - 1;  // the line before the first
  c.after_this.set_value(before + line_no + 1);
  c.resources.reserve(kept.size());
  json::LineDocument line_doc;
  json::Document& doc = line_doc;
  json::ParseError perr;
  for (const auto& [line, number] : kept) {
    const fhir::Origin origin{name + ":" + std::to_string(before + number)};
    const std::string& loc = origin.location;
    if (!json::parse_line(line, doc, perr)) {  // `doc` is read before the next line is parsed
      ++c.stats.rejected;
      c.issues.add(Severity::error, "json-syntax", loc + ":" + std::to_string(perr.column), "", "",
                   "line is not valid JSON: " + perr.message);
      mark_incomplete(line, loc, c.issues, false, c.completeness);
      continue;
    }
    const std::size_t had = c.resources.size();
    auto ex = fhir::extract_resource(doc, origin, c.issues, {}, &c.resources);
    if (ex.rejected) {
      ++c.stats.rejected;
      mark_incomplete(line, loc, c.issues, true, c.completeness);
      continue;
    }
    if (c.resources.size() == had) {
      ++c.stats.skipped_by_type[ex.type_name];
      continue;
    }
    fhir::Resource& r = c.resources.back();
    resolve_subject(r, nullptr, c.issues, c.completeness);
    if (keep_raw_) fhir::header(r).raw.assign(line);
    ++c.stats.read_by_type[ex.type_name];
  }
  c.data.reset();
}

FilePtr FileSource::open_input(const std::string& name, const fs::path& file, IssueLog& issues) {
  FilePtr f(std::fopen(file.c_str(), "rb"));
  if (!f) {
    issues.add(Severity::error, "unreadable-file", name, "", "", std::strerror(errno));
    completeness_.run_types.insert("*");  // whatever the file held is missing
  }
  return f;
}

void FileSource::read_ndjson(const fs::path& file, const Sink& sink, IssueLog& issues) {
  const std::string name = display(file);
  FilePtr f = open_input(name, file, issues);
  if (!f) return;
  // Small enough that chunks in flight stay a few MB. (512 KB, so that a worker's second pass over its
  // chunk, the parser over the lines the filter kept, would find them in the core's 2 MB L2 cache, measured
  // within the noise at 100,000 patients: docs/performance.md, session 19.)
  constexpr std::size_t kChunkBytes = 2u << 20;
  // Chunks read but not yet delivered, at most. (16 was slower at 100,000 patients, more CPU time for the
  // same work: likely because 32 MB of chunks in flight fill the 32 MB L3 cache; not measured.)
  const std::size_t max_inflight = threads_ > 1 ? 2 * threads_ : 1;
  // The chunks go on in file order, delivered by whichever worker finishes the one due next (an ordered
  // pipeline): this thread only reads. (It used to deliver each chunk itself before reading the next one
  // past the window; meanwhile the workers ran out of chunks, and a tenth of the two cores stood idle while
  // reading 100,000 patients: docs/performance.md, session 21.)
  struct InOrder {
    std::mutex mu;
    std::condition_variable progress;  // a chunk was delivered
    // Parsed chunks waiting for an earlier one, chunk n at n % max_inflight: no more than max_inflight are
    // submitted and not delivered, so each has a slot of its own, and handing one on allocates nothing.
    std::vector<std::unique_ptr<Chunk>> waiting;
    // A chunk is taken for delivery when `delivered` reaches it, which happens once the one before it is
    // delivered: one delivery at a time, in order, on whichever thread took it.
    std::size_t submitted = 0, delivered = 0;
    // The first failure in time, from parsing or delivering (out of memory, say): no chunk is delivered once
    // it is known, and the read ends with it.
    std::exception_ptr error;
    bool abandoned = false;  // the reading thread left early: what is still queued is dropped unparsed
  } order;
  order.waiting.resize(max_inflight);
  // Counts of this (the reading) thread, merged once every chunk is delivered: workers deliver meanwhile.
  std::size_t rejected_here = 0;
  bool incomplete_here = false;

  auto deliver = [&](std::unique_ptr<Chunk> c) {
    for (const auto& [t, n] : c->stats.read_by_type) stats_.read_by_type[t] += n;
    for (const auto& [t, n] : c->stats.skipped_by_type) stats_.skipped_by_type[t] += n;
    stats_.rejected += c->stats.rejected;
    for (const auto& [t, n] : c->stats.prefiltered_by_type) stats_.prefiltered_by_type[t] += n;
    completeness_.merge(c->completeness);
    issues.merge(std::move(c->issues));
    if (!c->resources.empty() && c->resources.size() <= page_size_) {  // the usual case: no copy
      Page page;
      page.label = name;
      page.resources = std::move(c->resources);
      sink(std::move(page));
      return;
    }
    for (std::size_t i = 0; i < c->resources.size(); i += page_size_) {
      Page page;
      page.label = name;
      const std::size_t end = std::min(c->resources.size(), i + page_size_);
      page.resources.reserve(end - i);
      for (std::size_t k = i; k < end; ++k) page.resources.push_back(std::move(c->resources[k]));
      sink(std::move(page));
    }
  };
  // A worker's parsed chunk: kept until the chunks before it are delivered, then delivered with whatever
  // waited for it.
  auto hand_on = [&](std::size_t seq, std::unique_ptr<Chunk> c, std::exception_ptr failed) noexcept {
    std::unique_lock lock(order.mu);
    if (failed && !order.error) order.error = failed;
    order.waiting[seq % max_inflight] = std::move(c);
    while (order.waiting[order.delivered % max_inflight]) {
      std::unique_ptr<Chunk> next = std::move(order.waiting[order.delivered % max_inflight]);
      const bool skip = order.error || order.abandoned;
      lock.unlock();
      std::exception_ptr e;
      if (!skip) {
        try {
          deliver(std::move(next));
        } catch (...) {
          e = std::current_exception();
        }
      }
      next.reset();
      lock.lock();
      if (e && !order.error) order.error = e;
      ++order.delivered;
      order.progress.notify_all();
    }
  };
  // Declared after what its tasks use: destroyed before it, and it runs whatever is queued before it goes.
  std::unique_ptr<TaskPool> pool;
  if (max_inflight > 1) pool = std::make_unique<TaskPool>(threads_);
  // Destroyed before the pool: should this thread leave early (an exception), the chunks still queued are
  // dropped, instead of being parsed and handed to the sink after the read has failed.
  struct Abandon {
    InOrder& o;
    ~Abandon() {
      std::lock_guard lock(o.mu);
      o.abandoned = true;
    }
  } abandon{order};
  // The number of the line after the last submitted chunk, once that chunk has split its lines (Chunk), and
  // the lines skipped by the reader since.
  std::promise<std::size_t> first;
  first.set_value(1);
  std::shared_future<std::size_t> after_submitted = first.get_future().share();
  std::size_t skipped = 0;
  auto submit = [&](std::unique_ptr<char[]> data, std::size_t begin, std::size_t end) {
    auto c = std::make_unique<Chunk>();
    c->data = std::move(data);
    c->begin = begin;
    c->end = end;
    c->after_previous = after_submitted;
    c->skipped_before = skipped;
    after_submitted = c->after_this.get_future().share();
    skipped = 0;
    if (max_inflight == 1) {
      parse_chunk(*c, name);
      deliver(std::move(c));
      return;
    }
    std::size_t seq;
    {
      std::unique_lock lock(order.mu);
      order.progress.wait(lock, [&] { return order.submitted - order.delivered < max_inflight; });
      seq = order.submitted++;
    }
    pool->submit([this, &name, &order, &hand_on, seq, ch = std::move(c)]() mutable {
      bool abandoned;
      {
        std::lock_guard lock(order.mu);
        abandoned = order.abandoned;
      }
      std::exception_ptr failed;
      if (!abandoned) {
        try {
          parse_chunk(*ch, name);
        } catch (...) {
          failed = std::current_exception();
        }
      }
      hand_on(seq, std::move(ch), failed);
    });
  };

  // Each read lands in a new buffer after the partial line the last one ended with, so the input is copied
  // once (the carried partial line aside) and the buffer goes to a worker whole.
  std::string carry;
  bool skipping_long = false;  // inside a line longer than kMaxLine: dropped up to its newline
  // The line is too long to be a resource: report it, skip to its end, and know data may be missing. (Its
  // number waits for the chunk before it to have split its lines; such lines are rare.)
  auto too_long = [&] {
    const std::size_t line = after_submitted.get() + skipped;
    issues.add(Severity::error, "line-too-long", name + ":" + std::to_string(line), "", "",
               "line longer than " + std::to_string(kMaxLine) + " bytes was skipped");
    ++rejected_here;
    incomplete_here = true;
    ++skipped;
  };
  auto failed = [&] {
    std::lock_guard lock(order.mu);
    return static_cast<bool>(order.error);
  };
  while (!failed()) {
    // A line longer than a chunk is read on in steps as large as what is carried (up to just past the limit),
    // so that copying it along stays linear in its length rather than quadratic.
    const std::size_t want = carry.size() < kChunkBytes
                                 ? kChunkBytes
                                 : std::min(carry.size(), std::max(kChunkBytes, kMaxLine + 1 - carry.size()));
    auto buf = std::make_unique_for_overwrite<char[]>(carry.size() + want);
    std::memcpy(buf.get(), carry.data(), carry.size());
    const std::size_t n = std::fread(buf.get() + carry.size(), 1, want, f.get());
    if (n == 0) break;
    const std::size_t total = carry.size() + n;
    std::size_t begin = 0;
    if (skipping_long) {  // carry is empty
      const void* nl = std::memchr(buf.get(), '\n', total);
      if (!nl) continue;
      begin = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.get()) + 1;
      skipping_long = false;
    }
    // The carried part holds no newline: only the bytes just read are searched.
    const std::size_t from = std::max(begin, carry.size());
    const void* last = ::memrchr(buf.get() + from, '\n', total - from);
    if (!last) {
      carry.assign(buf.get() + begin, total - begin);
      if (carry.size() > kMaxLine) {
        std::string().swap(carry);
        too_long();
        skipping_long = true;
      }
      continue;
    }
    if (!carry.empty()) {
      // The carried line ends in this read; it may have grown past the limit only now.
      const auto* nl = static_cast<const char*>(std::memchr(buf.get() + carry.size(), '\n', n));
      if (static_cast<std::size_t>(nl - buf.get()) > kMaxLine) {
        too_long();
        begin = static_cast<std::size_t>(nl - buf.get()) + 1;
      }
    }
    const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(last) - buf.get()) + 1;
    carry.assign(buf.get() + end, total - end);
    if (begin == end) continue;
    submit(std::move(buf), begin, end);
  }
  if (std::ferror(f.get())) {
    issues.add(Severity::error, "read-error", name, "", "", "I/O error while reading");
    incomplete_here = true;
  }
  if (!carry.empty() && !skipping_long) {  // last line without a newline
    auto buf = std::make_unique_for_overwrite<char[]>(carry.size());
    std::memcpy(buf.get(), carry.data(), carry.size());
    submit(std::move(buf), 0, carry.size());
  }
  {
    std::unique_lock lock(order.mu);
    order.progress.wait(lock, [&] { return order.delivered == order.submitted; });
  }
  stats_.rejected += rejected_here;
  if (incomplete_here) completeness_.run_types.insert("*");
  if (order.error) std::rethrow_exception(order.error);
}

void FileSource::read_json(const fs::path& file, const Sink& sink, IssueLog& issues) {
  const std::string name = display(file);
  FilePtr f = open_input(name, file, issues);
  if (!f) return;
  Page page;
  page.label = name;
  BundleScope scope;
  std::set<std::string> patients_seen;  // for attributing a truncated Bundle
  // DELETE entries ("Type/id" -> where): a history Bundle lists the newest first, so a version of that
  // resource after its DELETE entry is older than the deletion and is not used (a transaction may not touch
  // a resource twice).
  std::map<std::string, std::string> deleted;

  // Handles one entry object (top-level or nested); nested Bundles are expanded with an explicit work list.
  struct Work {
    const json::Value* entry;
    std::string path;
  };
  auto handle_entry = [&](const json::Value& top, const std::string& top_path) {
    std::vector<Work> work{{&top, top_path}};
    while (!work.empty()) {
      Work w = work.back();
      work.pop_back();
      const std::string loc = name + " " + w.path;
      const json::Value& entry = *w.entry;
      if (!entry.IsObject()) {
        ++stats_.rejected;
        issues.add(Severity::error, "bad-bundle-entry", loc, "", "Bundle.entry", "entry is not an object");
        continue;
      }
      std::string full_url(json::string(json::member(entry, "fullUrl")).value_or(""));
      const json::Value* res = json::member(entry, "resource");
      const json::Value* req = json::member(entry, "request");
      std::string method(json::string(json::member(req, "method")).value_or(""));
      std::string url(json::string(json::member(req, "url")).value_or(""));
      if (!res) {
        if (method == "DELETE") {
          std::string key = fhir::relative_reference(url.substr(0, url.find('?')));
          if (auto h = key.find("/_history"); h != std::string::npos) key.resize(h);
          if (key.find('/') != std::string::npos && key.find('/') == key.rfind('/')) {
            deleted.emplace(key, loc);
            issues.add(Severity::info, "deleted-in-bundle", loc, key, "Bundle.entry.request",
                       "the Bundle deletes " + key + ": its older versions in this file are not used");
          } else {
            // A conditional delete ("Condition?code=..."): which resources it removed is not known, so any
            // of that type read from this source may be gone.
            const std::string type = url.substr(0, url.find_first_of("?/"));
            issues.add(Severity::warning, "bad-bundle-entry", loc, "", "Bundle.entry.request.url",
                       "a DELETE entry whose url names no single resource: " +
                           (type.empty() ? std::string("every type") : type) + " is incomplete");
            completeness_.run_types.insert(
                fhir::resource_type_from(type) == fhir::ResourceType::other ? std::string("*") : type);
          }
        } else if (method != "GET" && method != "HEAD") {
          issues.add(Severity::warning, "bad-bundle-entry", loc, "", "Bundle.entry.resource",
                     "entry has no resource");
        }
        continue;
      }
      if (json::string(json::member(*res, "resourceType")).value_or("") == "Bundle") {
        std::vector<Work> nested;
        json::for_each(json::member(*res, "entry"), [&](std::size_t i, const json::Value& e) {
          nested.push_back({&e, w.path + ".resource.entry[" + std::to_string(i) + "]"});
        });
        for (auto it = nested.rbegin(); it != nested.rend(); ++it) work.push_back(*it);
        continue;
      }
      // An entry without resource.id takes its id from a PUT url ("Patient/123") or a urn:uuid fullUrl.
      std::string fallback;
      if (method == "PUT") {
        auto rel = fhir::relative_reference(url.substr(0, url.find('?')));
        if (auto s = rel.find('/'); s != std::string::npos) fallback = rel.substr(s + 1);
      }
      if (fallback.empty() && full_url.rfind("urn:uuid:", 0) == 0) fallback = full_url.substr(9);
      auto ex = fhir::extract_resource(*res, fhir::Origin{loc}, issues, fallback);
      if (ex.rejected) {
        ++stats_.rejected;
        std::string raw = json::serialize(*res);
        mark_incomplete(raw, loc, issues, true, completeness_);
        continue;
      }
      if (!ex.resource) {
        ++stats_.skipped_by_type[ex.type_name];
        continue;
      }
      if (auto d = deleted.find(fhir::header(*ex.resource).key()); d != deleted.end()) {
        issues.add(Severity::info, "deleted-in-bundle", loc, d->first, "Bundle.entry",
                   "an older version of a resource the Bundle deletes (" + d->second + "): not used");
        continue;
      }
      if (keep_raw_) fhir::header(*ex.resource).raw = json::serialize(*res);
      const fhir::Header& h = fhir::header(*ex.resource);
      scope.add(full_url, h);
      if (!full_url.empty() && full_url.rfind("urn:", 0) != 0) {
        std::string rel = fhir::relative_reference(full_url);
        if (!rel.empty() && rel != h.key())
          issues.add(Severity::warning, "fullurl-mismatch", loc, h.key(), "Bundle.entry.fullUrl",
                     "fullUrl names " + rel + " but the resource is " + h.key());
      }
      ++stats_.read_by_type[ex.type_name];
      page.resources.push_back(std::move(*ex.resource));
    }
  };

  json::Document root;
  json::ParseError perr;
  json::StreamCallbacks cb;
  cb.on_entry = [&](std::size_t i, json::Document& entry) {
    handle_entry(entry, "entry[" + std::to_string(i) + "]");
  };
  cb.on_skipped = [&](std::size_t i, const std::string& why) {
    ++stats_.rejected;
    const std::string loc = name + " entry[" + std::to_string(i) + "]";
    issues.add(Severity::error, "bad-bundle-entry", loc, "", "Bundle.entry", why);
    completeness_.run_types.insert("*");
  };
  const bool ok = json::stream_object_file(f.get(), root, cb, perr);
  std::string root_type(json::string(json::member(root, "resourceType")).value_or(""));
  if (!ok) {
    ++stats_.rejected;
    issues.add(Severity::error, "json-syntax",
               name + ":" + std::to_string(perr.line) + ":" + std::to_string(perr.column), "", "",
               "file is not valid JSON: " + perr.message + " (entries before this point were read)");
    // What follows the error is lost, and we cannot tell whose it was.
    completeness_.run_types.insert("*");
  } else if (root_type.empty()) {
    ++stats_.rejected;
    // Not a FHIR resource (a Bulk manifest, a settings file next to the data): reported, and nothing is
    // taken as missing, or every run over an export folder with a manifest would be incomplete.
    issues.add(Severity::error, "missing-resource-type", name, "", "resourceType",
               "file root has no resourceType: not read as FHIR");
  } else if (root_type != "Bundle") {
    auto ex = fhir::extract_resource(root, fhir::Origin{name}, issues);
    if (ex.rejected) {
      ++stats_.rejected;
      // As for a rejected NDJSON line: what it said is missing for its patient (or for everyone).
      mark_incomplete(json::serialize(root), name, issues, true, completeness_);
    } else if (!ex.resource) {
      ++stats_.skipped_by_type[ex.type_name];
    } else {
      if (keep_raw_) fhir::header(*ex.resource).raw = json::serialize(root);
      ++stats_.read_by_type[ex.type_name];
      page.resources.push_back(std::move(*ex.resource));
    }
  } else {
    std::string type(json::string(json::member(root, "type")).value_or(""));
    static const char* kKnown[] = {"collection",    "searchset", "transaction", "batch",
                                   "document",      "history",   "message",     "transaction-response",
                                   "batch-response"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return type == k; }))
      issues.add(Severity::warning, "bundle-type", name, "", "Bundle.type",
                 "unexpected Bundle.type '" + sanitize_for_log(type, 40) + "'");
  }
  for (auto& r : page.resources) resolve_subject(r, &scope, issues, completeness_);
  if (!page.resources.empty()) sink(std::move(page));
}

}  // namespace cf::source
