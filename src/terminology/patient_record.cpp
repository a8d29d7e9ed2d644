#include "terminology/patient_record.hpp"

#include "core/text.hpp"
#include "terminology/values.hpp"

#include <algorithm>
#include <mutex>
#include <set>

namespace cf::terminology {

namespace {

std::vector<Match> matches_for(const Terminology& t, const fhir::CodeableConcept& cc,
                               fhir::ResourceType type) {
  auto all = t.match(cc);
  std::vector<Match> out;
  for (auto& m : all)
    if (kind_fits(m.con->kind, type)) out.push_back(std::move(m));
  return out;
}

// Where a resource type's name sorts among the names (resources are ordered by "Type/id").
int type_name_rank(fhir::ResourceType t) {
  static const std::vector<int> ranks = [] {
    constexpr int n = static_cast<int>(fhir::ResourceType::other) + 1;
    std::vector<int> by_name(n);
    for (int i = 0; i < n; ++i) by_name[i] = i;
    std::sort(by_name.begin(), by_name.end(), [](int a, int b) {
      return std::string_view(fhir::to_string(static_cast<fhir::ResourceType>(a))) <
             std::string_view(fhir::to_string(static_cast<fhir::ResourceType>(b)));
    });
    std::vector<int> rank(n);
    for (int i = 0; i < n; ++i) rank[by_name[i]] = i;
    return rank;
  }();
  return ranks[static_cast<std::size_t>(t)];
}

long long version_number(const std::string& v) {
  if (v.empty() || v.size() > 18) return -1;
  long long n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n;
}

// A quantity whose unit the analyte's rules cannot convert is reported once, where it was read; criteria that
// need the value then say "unknown" (never a silent comparison).
void report_unit_problem(const Terminology& t, const fhir::Observation& o, const Match& m, IssueLog& issues) {
  using K = fhir::ObservationValue::Kind;
  if (o.value.kind != K::quantity || o.status == "entered-in-error" || o.status == "cancelled") return;
  const Analyte* a = t.analyte(m.con->analyte);
  if (!a || a->canonical.empty()) return;  // read by interpretation, not by unit
  std::string why;
  if (normalise(t, *a, o.value.quantity, why)) return;
  issues.add(Severity::warning, "unit-unconvertible", o.h.origin.location, o.h.key(),
             "Observation.valueQuantity.unit",
             m.con->id + ": " + why + "; criteria that need this value are unknown");
}

}  // namespace

bool Collector::newer(const fhir::Header& a, const fhir::Header& b) const {
  long long va = version_number(a.version_id), vb = version_number(b.version_id);
  if (va >= 0 && vb >= 0 && va != vb) return va > vb;
  if (a.last_updated != b.last_updated) {
    // As points in time: "12:00:00Z" is after "12:00:00.250+02:00", whatever the strings' order.
    auto ka = parse_instant_key(a.last_updated), kb = parse_instant_key(b.last_updated);
    if (ka && kb) return *ka > *kb;
    if (ka || kb) return ka.has_value();  // a readable instant beats none
    return a.last_updated > b.last_updated;
  }
  return false;  // same version: the first one seen stays
}

Collector::~Collector() = default;

void Collector::set_spill(std::filesystem::path dir, std::size_t budget_bytes, std::size_t files,
                          std::size_t partitions_per_file) {
  spill_dir_ = std::move(dir);
  budget_ = budget_bytes;
  files_ = std::max<std::size_t>(files, 1);
  buckets_ = files_ * std::max<std::size_t>(partitions_per_file, 1);
  spill_enabled_ = true;
}

std::uint64_t Collector::spilled_bytes() const {
  return spill_ ? spill_->bytes_written() : 0;
}

// The resources kept so far stay in memory, regrouped by bucket; the ones still to come go to the files.
void Collector::start_spilling() {
  auto s = SpillBuckets::create(spill_dir_, buckets_, files_);
  if (!s) {
    status_ = s.error();
    spill_enabled_ = false;  // keep going in memory; the run reports the error
    return;
  }
  spill_ = std::move(*s);
  std::vector<Partition> parts(buckets_);
  for (auto& r : parts_[0].in_memory) {
    const std::size_t b = bucket_of(fhir::header(r).patient_id, buckets_);
    note_key(fhir::header(r), b);
    parts[b].in_memory.push_back(std::move(r));
  }
  parts_ = std::move(parts);
}

void Collector::note_key(const fhir::Header& h, std::size_t bucket) {
  keys_.emplace_back(std::hash<std::string>{}(h.key()), static_cast<std::uint32_t>(bucket));
}

// Finds the resources whose versions are in more than one partition, reads just those partitions' copies of
// them, and marks every copy but the newest as superseded (finish_partition then drops it with the same
// data issue a duplicate in one partition gets). Hash collisions only cost a look at the real keys.
Status Collector::settle_cross_partition_versions() {
  settled_ = true;
  if (parts_.size() <= 1) return Status::success();
  std::sort(keys_.begin(), keys_.end());
  std::set<std::uint64_t> split;
  std::set<std::size_t> touched;
  for (std::size_t i = 0, j; i < keys_.size(); i = j) {
    for (j = i + 1; j < keys_.size() && keys_[j].first == keys_[i].first; ++j) {
    }
    if (keys_[j - 1].second != keys_[i].second) {
      split.insert(keys_[i].first);
      for (std::size_t k = i; k < j; ++k) touched.insert(keys_[k].second);
    }
  }
  std::vector<std::pair<std::uint64_t, std::uint32_t>>().swap(keys_);
  if (split.empty()) return Status::success();
  struct Copy {
    std::size_t partition;
    fhir::Header h;
  };
  std::map<std::string, std::vector<Copy>> copies;
  for (const std::size_t p : touched) {
    auto look = [&](const fhir::Resource& r) {
      const fhir::Header& h = fhir::header(r);
      std::string key = h.key();
      if (!split.count(std::hash<std::string>{}(key))) return;
      fhir::Header copy = h;
      copy.raw.clear();
      copies[key].push_back({p, std::move(copy)});
    };
    for (const auto& r : parts_[p].in_memory) look(r);
    if (auto st = spill_->read(
            p, [&](std::shared_ptr<fhir::Resource>&& r) { look(*r); }, false);
        !st)
      return st;
  }
  for (const auto& [key, list] : copies) {
    const Copy* best = &list.front();
    for (const auto& c : list)
      if (newer(c.h, best->h)) best = &c;
    for (const auto& c : list)
      if (c.partition != best->partition) {
        superseded_.insert({key, c.partition});
        superseded_by_[{key, c.partition}] =
            best->h.origin.location + " (versionId " + best->h.version_id + ")";
      }
  }
  return Status::success();
}

bool Collector::add(fhir::Resource&& r) {
  fhir::Header& h = fhir::header(r);
  // Only what version comparison and locations need (not the raw JSON or the subject).
  auto lite = [](const fhir::Header& from) {
    fhir::Header l;
    l.type = from.type;
    l.id = from.id;
    l.version_id = from.version_id;
    l.last_updated = from.last_updated;
    l.origin = from.origin;
    return l;
  };
  if (auto* m = std::get_if<fhir::Medication>(&r)) {
    auto [it, fresh] = medications_.try_emplace(h.key());
    if (fresh || newer(h, it->second.h)) it->second = {lite(h), m->code};
    return true;
  }
  if (h.patient_id.empty()) {
    ++stats_.unattributed;
    return false;
  }
  if (filter_ && !filter_(h.patient_id)) {
    ++stats_.other_shard;
    return false;
  }
  bool relevant = h.type == fhir::ResourceType::patient;
  if (const auto* cc = fhir::code_of(r)) relevant = t_->means_any(*cc, h.type);
  if (const auto* o = std::get_if<fhir::Observation>(&r); o && !relevant)
    for (const auto& comp : o->components) relevant = relevant || t_->means_any(comp.code, h.type);
  // Every medication use is kept: one of a drug no mapping identifies may still be an SLE therapy.
  if (std::holds_alternative<fhir::MedicationUse>(r)) relevant = true;
  if (!relevant) {
    ++stats_.unmatched;
    if (version_number(h.version_id) != 1) {
      auto [it, fresh] = dropped_versions_.try_emplace(h.key());
      if (fresh || newer(h, it->second)) it->second = lite(h);
    }
    return false;
  }
  const std::size_t b = spill_ ? bucket_of(h.patient_id, buckets_) : 0;
  std::string().swap(h.raw);  // not needed once extracted (the state store took its copy)
  // Nor the subject as written: its patient is resolved (patient_id), and nothing after reading reads it (a
  // string to copy, spill and decode again for every resource kept).
  std::string().swap(h.subject);
  if (spill_) {
    note_key(h, b);
    if (auto w = spill_->write(b, r); !w && status_.ok()) status_ = w;
    return true;
  }
  // A rough size (the struct plus its text) to decide when to spill.
  in_memory_bytes_ += sizeof(fhir::Resource) + 768 + h.origin.location.size() + h.id.size();
  parts_[b].in_memory.push_back(std::move(r));
  if (spill_enabled_ && !spill_ && in_memory_bytes_ > budget_) start_spilling();
  return true;
}

Result<std::map<std::string, PatientRecord>> Collector::finish_partition(std::size_t p, IssueLog& issues) {
  {
    std::lock_guard lock(stats_mu_);
    if (!settled_)
      if (auto st = settle_cross_partition_versions(); !st) return st.error();
  }
  // Every resource of the partition in order of arrival (first those kept in memory, then the file's), each
  // in the one allocation that the patient record will share: a resource is never moved again.
  std::vector<std::shared_ptr<fhir::Resource>> arrived;
  arrived.reserve(parts_.at(p).in_memory.size());
  for (auto& r : parts_[p].in_memory) arrived.push_back(std::make_shared<fhir::Resource>(std::move(r)));
  std::vector<fhir::Resource>().swap(parts_[p].in_memory);
  if (spill_)
    if (auto st =
            spill_->read(p, [&](std::shared_ptr<fhir::Resource>&& r) { arrived.push_back(std::move(r)); });
        !st)
      return st.error();

  // By key ("Type/id"; the order of the evidence in a record), arrivals of one key in arrival order. Compared
  // as (type name, id), which orders as the key string does ('/' sorts before any letter), without building
  // it.
  // Sorted as small keys (each resource's header is looked up once, not at every comparison; most ids differ
  // in their first 8 bytes, compared as one number).
  struct Key {
    int rank;
    std::uint64_t prefix;  // the id's first 8 bytes, big-endian, zero-padded: orders as the bytes do
    std::string_view id;
    std::uint32_t at;
  };
  std::vector<Key> keys;
  keys.reserve(arrived.size());
  for (std::uint32_t i = 0; i < arrived.size(); ++i) {
    const fhir::Header& h = fhir::header(*arrived[i]);
    std::uint64_t prefix = 0;
    for (std::size_t k = 0; k < 8; ++k)
      prefix = prefix << 8 | (k < h.id.size() ? static_cast<unsigned char>(h.id[k]) : 0u);
    keys.push_back({type_name_rank(h.type), prefix, h.id, i});
  }
  std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
    if (a.rank != b.rank) return a.rank < b.rank;
    if (a.prefix != b.prefix) return a.prefix < b.prefix;
    if (const int c = a.id.compare(b.id)) return c < 0;
    return a.at < b.at;  // arrivals of one key in arrival order
  });
  std::vector<std::uint32_t> order(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) order[i] = keys[i].at;
  std::vector<Key>().swap(keys);
  // The newest version of each resource. The duplicates' issues are reported in order of arrival, as they
  // were read.
  std::vector<std::pair<std::uint32_t, DataIssue>> duplicate_issues;
  auto duplicate = [&](std::uint32_t at, const fhir::Header& h, std::string message) {
    duplicate_issues.push_back({at, DataIssue{Severity::info, "duplicate-resource", h.origin.location,
                                              h.key(), "", std::move(message)}});
  };
  std::vector<std::uint32_t> winners;  // by key
  winners.reserve(order.size());
  for (std::size_t i = 0, j; i < order.size(); i = j) {
    const fhir::Header& first = fhir::header(*arrived[order[i]]);
    for (j = i + 1; j < order.size(); ++j) {
      const fhir::Header& h = fhir::header(*arrived[order[j]]);
      if (h.type != first.type || h.id != first.id) break;
    }
    if (!superseded_.empty()) {
      const std::string key = first.key();
      if (superseded_.count({key, p})) {
        const std::string& winner = superseded_by_.at({key, p});
        for (std::size_t k = i; k < j; ++k) {
          duplicate(order[k], fhir::header(*arrived[order[k]]),
                    "also read at " + winner + "; keeping that version");
          arrived[order[k]].reset();
        }
        continue;
      }
    }
    std::uint32_t best = order[i];
    for (std::size_t k = i + 1; k < j; ++k) {
      const fhir::Header& h = fhir::header(*arrived[order[k]]);
      const fhir::Header& old = fhir::header(*arrived[best]);
      const bool replace = newer(h, old);
      duplicate(order[k], h,
                "also read at " + old.origin.location + "; keeping " + (replace ? "this" : "that") +
                    " version (versionId " + (replace ? h.version_id : old.version_id) + ")");
      arrived[replace ? best : order[k]].reset();
      if (replace) best = order[k];
    }
    if (!dropped_versions_.empty()) {
      const fhir::Header& h = fhir::header(*arrived[best]);
      auto d = dropped_versions_.find(h.key());
      if (d != dropped_versions_.end() && newer(d->second, h)) {
        duplicate(best, h,
                  "a newer version read at " + d->second.origin.location + " (versionId " +
                      d->second.version_id + ") matches no criterion; this older version is not used");
        arrived[best].reset();
        continue;
      }
    }
    winners.push_back(best);
  }
  std::sort(duplicate_issues.begin(), duplicate_issues.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [at, issue] : duplicate_issues) issues.add(std::move(issue));
  {
    std::lock_guard lock(stats_mu_);
    stats_.kept += winners.size();
    stats_.duplicates += duplicate_issues.size();
  }

  std::map<std::string, PatientRecord> out;
  for (const std::uint32_t at : winners) {
    std::shared_ptr<fhir::Resource> r = std::move(arrived[at]);
    fhir::Header& h = fhir::header(*r);
    h.raw.clear();
    PatientRecord& rec = out[h.patient_id];
    rec.id = h.patient_id;
    // The facts share the resource's allocation (aliasing shared_ptr): it is freed with the last of them.
    if (auto* pt = std::get_if<fhir::Patient>(r.get())) {
      rec.patient = std::shared_ptr<const fhir::Patient>(r, pt);
    } else if (auto* o = std::get_if<fhir::Observation>(r.get())) {
      std::shared_ptr<const fhir::Observation> shared(r, o);
      std::set<std::string> matched;
      for (auto& m : matches_for(*t_, shared->code, h.type)) {
        matched.insert(m.con->id);
        report_unit_problem(*t_, *shared, m, issues);
        rec.observations.push_back({shared, std::move(m)});
      }
      // A result inside a component (a hepatitis panel whose HBsAg is component[0]) is a result of its own:
      // the parent's subject, status and date with the component's code and value.
      for (const auto& comp : shared->components) {
        auto ms = matches_for(*t_, comp.code, h.type);
        if (ms.empty()) continue;
        auto part = std::make_shared<fhir::Observation>();
        part->h = shared->h;
        part->status = shared->status;
        part->code = comp.code;
        part->value = comp.value;
        part->data_absent_reason = comp.data_absent_reason;
        part->interpretation = comp.interpretation;
        part->reference_ranges = comp.reference_ranges;
        part->effective = shared->effective;
        part->effective_text = shared->effective_text;
        for (auto& m : ms) {
          if (!matched.insert(m.con->id).second) continue;  // the parent's own code said it already
          report_unit_problem(*t_, *part, m, issues);
          rec.observations.push_back({part, std::move(m)});
        }
      }
    } else if (auto* c = std::get_if<fhir::Condition>(r.get())) {
      std::shared_ptr<const fhir::Condition> shared(r, c);
      for (auto& m : matches_for(*t_, shared->code, h.type)) rec.conditions.push_back({shared, std::move(m)});
    } else if (auto* pr = std::get_if<fhir::Procedure>(r.get())) {
      std::shared_ptr<const fhir::Procedure> shared(r, pr);
      for (auto& m : matches_for(*t_, shared->code, h.type)) rec.procedures.push_back({shared, std::move(m)});
    } else if (auto* mu = std::get_if<fhir::MedicationUse>(r.get())) {
      bool unresolved = false;
      if (mu->medication.empty() && !mu->medication_reference.empty()) {
        auto med = medications_.find(mu->medication_reference);
        if (med != medications_.end()) {
          mu->medication = med->second.code;
        } else {
          issues.add(Severity::warning, "unresolved-reference", h.origin.location, h.key(),
                     std::string(fhir::to_string(h.type)) + ".medicationReference",
                     "medication " + mu->medication_reference +
                         " was not found in the source; drug criteria are unknown for this patient");
          rec.unresolved_medication = unresolved = true;
        }
      }
      auto mm = t_->match_medication(mu->medication);
      if (!mm) {
        // (one naming a Medication the source did not deliver already leaves drug criteria unknown; one whose
        // codes name another drug, metformin by RxNorm, is no SLE therapy)
        if (!unresolved && !t_->names_other_drug(mu->medication))
          rec.unidentified_medications.push_back(std::shared_ptr<const fhir::MedicationUse>(r, mu));
        continue;
      }
      rec.medications.push_back({std::shared_ptr<const fhir::MedicationUse>(r, mu), std::move(*mm)});
    }
  }
  std::map<std::string, UnidentifiedDrug> unidentified;
  for (const auto& [id, rec] : out) {
    std::set<std::string> here;
    for (const auto& u : rec.unidentified_medications) {
      UnidentifiedDrug d = describe_unidentified(u->medication);
      d.uses = 1;
      d.patients = here.insert(unidentified_key(d)).second ? 1 : 0;
      add_unidentified(unidentified, d);
    }
  }
  if (!unidentified.empty()) {
    std::lock_guard lock(stats_mu_);
    for (const auto& [key, d] : unidentified) add_unidentified(stats_.unidentified, d);
  }
  return out;
}

std::vector<UnidentifiedDrug> unidentified_by_use(const std::map<std::string, UnidentifiedDrug>& drugs) {
  std::vector<UnidentifiedDrug> out;
  for (const auto& [key, d] : drugs) out.push_back(d);  // in key order: ties stay put
  std::stable_sort(out.begin(), out.end(), [](const UnidentifiedDrug& a, const UnidentifiedDrug& b) {
    return a.patients != b.patients ? a.patients > b.patients : a.uses > b.uses;
  });
  return out;
}

UnidentifiedDrug describe_unidentified(const fhir::CodeableConcept& drug) {
  UnidentifiedDrug d;
  for (const auto& c : drug.codings)
    if (!c.code.empty()) d.codes.push_back(c.system + "|" + c.code);
  d.name = drug.text;
  for (const auto& c : drug.codings)
    if (d.name.empty()) d.name = c.display;
  return d;
}

std::string unidentified_key(const UnidentifiedDrug& d) {
  std::string key;
  for (const auto& c : d.codes) key += c + "\n";
  return key.empty() ? "\n" + to_lower_ascii(d.name) : key;  // named only: counted by its name
}

void add_unidentified(std::map<std::string, UnidentifiedDrug>& into, const UnidentifiedDrug& d) {
  auto [it, fresh] = into.try_emplace(unidentified_key(d), d);
  if (fresh) return;
  UnidentifiedDrug& sum = it->second;
  if (!d.name.empty() && (sum.name.empty() || d.name < sum.name)) sum.name = d.name;
  sum.uses += d.uses;
  sum.patients += d.patients;
}

std::map<std::string, PatientRecord> Collector::finish(IssueLog& issues) {
  std::map<std::string, PatientRecord> all;
  for (std::size_t p = 0; p < partitions(); ++p) {
    auto part = finish_partition(p, issues);
    if (!part) {
      issues.add(Severity::error, "spill-failed", "", "", "", part.error().what());
      continue;
    }
    all.merge(*part);
  }
  return all;
}

}  // namespace cf::terminology
