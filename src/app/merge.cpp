#include "app/merge.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "core/files.hpp"
#include "core/shard.hpp"
#include "criteria/trial.hpp"
#include "json/json.hpp"
#include "report/fhir_group.hpp"
#include "report/html_report.hpp"
#include "report/outputs.hpp"
#include "report/privacy.hpp"
#include "report/result_reader.hpp"
#include "terminology/patient_record.hpp"
#include "terminology/terminology.hpp"

namespace cf::app {

namespace fs = std::filesystem;

namespace {

Result<std::string> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return make_error("cannot read", p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

// The records of a CSV file: split at line breaks outside quoted fields (RFC 4180 lets a quoted field hold
// one), so that a record is never cut in two.
std::vector<std::string> csv_records(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  bool quoted = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size()) {
      if (text[i] == '"') quoted = !quoted;  // "" inside a field toggles twice
      if (text[i] != '\n' || quoted) continue;
    }
    if (i > start || i < text.size()) out.push_back(text.substr(start, i - start));
    start = i + 1;
  }
  return out;
}

// Splits one CSV record (RFC 4180 quoting) into fields, quotes kept as written.
std::vector<std::string> csv_split(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    if (c == ',' && !quoted) {
      out.emplace_back();
      continue;
    }
    out.back() += c;
  }
  return out;
}

int tier_order(const std::string& t) {
  return t == "eligible" ? 0 : t == "possible" ? 1 : 2;
}

// One patient of one shard. Its results line stays in the shard's file (a hospital's are gigabytes) and is
// copied from there, in the unsharded order, when the merged file is written.
struct Row {
  int order = 2;
  ranking::PatientOutcome outcome;  // for report.html and group.json; ineligible: one byte per criterion
  std::size_t file = 0;             // index of the shard's results.ndjson
  std::uint64_t offset = 0;         // where the line starts in it
  std::size_t size = 0;
  std::uint64_t hash = 0;  // of the line as read first: a file that changes before the copy is an error
};

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string str(const json::Value* v) {
  return std::string(json::string(v).value_or(""));
}

// The trial definition and mappings a shard's manifest names, loaded again and checked against its SHA-256s:
// report.html and group.json need the definition's criteria, labels and notes.
Result<criteria::Trial> trial_of(const json::Value& manifest, const fs::path& dir) {
  std::vector<std::pair<std::string, std::string>> files;
  fs::path mappings;
  json::for_each(json::member(manifest, "mappings"), [&](std::size_t, const json::Value& m) {
    files.emplace_back(str(json::member(m, "file")), str(json::member(m, "sha256")));
    if (fs::path(files.back().first).filename() == "systems.json")
      mappings = fs::path(files.back().first).parent_path();
  });
  if (files.empty()) return make_error("manifest names no mapping files", dir.string());
  auto terms = terminology::Terminology::load(mappings.empty() ? fs::path(".") : mappings);
  if (!terms)
    return make_error("cannot load the shards' mappings again: " + terms.error().what(), dir.string());
  if ((*terms)->files() != files)
    return make_error("the mapping files in " + mappings.string() +
                          " are no longer those the shards were run with (SHA-256 differs)",
                      dir.string());
  const json::Value* t = json::member(manifest, "trial");
  auto trial = criteria::Trial::load(str(json::member(t, "file")), **terms);
  if (!trial)
    return make_error("cannot load the shards' trial definition again: " + trial.error().what(),
                      dir.string());
  if (trial->sha256 != str(json::member(t, "sha256")))
    return make_error("the trial definition " + trial->file +
                          " is no longer the one the shards were run with (SHA-256 differs)",
                      dir.string());
  return trial;
}

// "Observation (all patients)" first, as found; then "Condition (patient 12)" by patient and type, as
// app/run.cpp lists them.
std::vector<std::string> merge_incomplete(const std::vector<std::string>& all) {
  std::vector<std::string> run_wide, per_patient;
  std::set<std::string> seen;
  for (const auto& s : all) {
    if (!seen.insert(s).second) continue;
    (s.find(" (patient ") == std::string::npos ? run_wide : per_patient).push_back(s);
  }
  auto split = [](const std::string& s) {
    const auto p = s.find(" (patient ");
    return std::make_pair(s.substr(p + 10), s.substr(0, p));
  };
  std::sort(per_patient.begin(), per_patient.end(),
            [&](const std::string& a, const std::string& b) { return split(a) < split(b); });
  run_wide.insert(run_wide.end(), per_patient.begin(), per_patient.end());
  return run_wide;
}

}  // namespace

Result<MergeSummary> merge(const std::vector<fs::path>& dirs, const fs::path& out) {
  if (dirs.empty()) return make_error("no shard folders given", "merge");
  MergeSummary sum;
  std::string key;  // trial, mappings, as-of and export mode that every shard must share
  std::set<int> ks;
  int n = 0;
  std::vector<Row> rows;
  std::vector<fs::path> result_files;
  std::map<std::string, std::string> candidate_rows;  // patient -> candidates.csv record without its rank
  std::string candidates_header, attrition_header;
  std::vector<std::vector<std::string>> attrition;  // summed rows
  std::vector<std::string> issues;
  std::set<std::string> seen_issues;
  std::optional<criteria::Trial> trial;
  report::RunInfo info;  // for report.html and group.json, rebuilt from the shards' manifests
  std::set<std::string> versions;
  std::map<int, std::string> sources;  // shard k -> source
  std::vector<std::string> incomplete;
  std::map<std::string, terminology::UnidentifiedDrug> unidentified;  // by unidentified_key
  for (const auto& d : dirs) {
    auto m = slurp(d / "manifest.json");
    if (!m) return m.error();
    json::Document doc;
    json::ParseError err;
    if (!json::parse(*m, doc, err)) return make_error(err.message, (d / "manifest.json").string());
    const json::Value* maps = json::member(doc, "mappings");
    const std::string detail(json::string(json::member(doc, "ineligible_detail")).value_or("deciding"));
    std::string k = json::serialize(*json::member(json::member(doc, "trial"), "sha256")) + "|" +
                    (maps ? json::serialize(*maps) : "") + "|" + str(json::member(doc, "as_of")) + "|" +
                    str(json::member(doc, "export_mode")) + "|" + detail;
    if (key.empty()) key = k;
    if (k != key)
      return make_error(
          "this shard was made with another trial definition, mappings, as-of date, export mode or "
          "--ineligible-detail",
          d.string());
    auto shard = Shard::parse(json::string(json::member(doc, "shard")).value_or("1/1"));
    if (!shard) return make_error("manifest has no valid shard", d.string());
    if (n == 0) n = shard->n;
    if (shard->n != n)
      return make_error("shard of a split into " + std::to_string(shard->n) + ", not " + std::to_string(n),
                        d.string());
    if (!ks.insert(shard->k).second) return make_error("shard " + shard->str() + " given twice", d.string());
    if (!trial) {
      info.export_mode = str(json::member(doc, "export_mode"));
      if (info.export_mode == "deidentified" || info.export_mode == "safe-harbor")
        return make_error(
            "de-identified shards cannot be merged: their scores are withheld and their ids "
            "pseudonymised, so the order of one unsharded run cannot be rebuilt from them (run the "
            "shards identified or limited, or run unsharded)",
            d.string());
      if (info.export_mode == "counts")
        return make_error(
            "counts-only shards cannot be merged: their rounded counts do not add up to the counts of one "
            "unsharded run (run the shards identified and merge them, or run unsharded with --export-mode "
            "counts)",
            d.string());
      if (!report::parse_export_mode(info.export_mode))
        return make_error("unknown export mode '" + info.export_mode + "'", d.string());
      auto t = trial_of(doc, d);
      if (!t) return t.error();
      trial = std::move(*t);
      info.as_of = str(json::member(doc, "as_of"));
      info.ineligible_detail = detail;
    }
    versions.insert(str(json::member(json::member(doc, "tool"), "version")));
    sources[shard->k] = str(json::member(doc, "source"));
    const std::string started = str(json::member(doc, "started")),
                      finished = str(json::member(doc, "finished"));
    if (info.started.empty() || started < info.started) info.started = started;
    if (finished > info.finished) info.finished = finished;
    info.complete = info.complete && json::boolean(json::member(doc, "complete")).value_or(false);
    // The shards' unidentified drugs, summed by drug (patients are in one shard only).
    json::for_each(json::member(json::member(doc, "resources"), "unidentified_drugs"),
                   [&](std::size_t, const json::Value& v) {
                     terminology::UnidentifiedDrug drug;
                     json::for_each(json::member(v, "codes"), [&](std::size_t, const json::Value& c) {
                       drug.codes.push_back(str(&c));
                     });
                     drug.name = str(json::member(v, "name"));
                     auto count = [&](const char* field) -> std::size_t {
                       auto t = json::number_text(json::member(v, field));
                       return t ? std::stoul(std::string(*t)) : 0;
                     };
                     drug.uses = count("uses");
                     drug.patients = count("patients");
                     terminology::add_unidentified(unidentified, drug);
                   });
    json::for_each(json::member(doc, "incomplete"),
                   [&](std::size_t, const json::Value& v) { incomplete.push_back(str(&v)); });
    if (auto p = json::number_text(json::member(doc, "patients")))
      sum.patients += std::stoul(std::string(*p));

    result_files.push_back(d / "results.ndjson");
    std::ifstream res(result_files.back(), std::ios::binary);
    if (!res) return make_error("cannot read", result_files.back().string());
    std::size_t line_no = 0;
    std::uint64_t offset = 0;
    for (std::string line; std::getline(res, line); offset += line.size() + 1) {
      ++line_no;
      if (line.empty()) continue;
      auto o = report::read_result_line(*trial, line);
      if (!o)
        return make_error(o.error().what(), result_files.back().string() + ":" + std::to_string(line_no));
      Row row;
      row.outcome = std::move(*o);
      row.order = tier_order(ranking::to_string(row.outcome.tier));
      if (row.order == 2) {
        // The reports list ineligible patients with the criteria that decided only: keep one byte per
        // criterion, as app/run.cpp does.
        ranking::strip_evidence(row.outcome);
      }
      row.file = result_files.size() - 1;
      row.offset = offset;
      row.size = line.size();
      row.hash = fnv1a(line);
      rows.push_back(std::move(row));
    }
    if (res.bad()) return make_error("cannot read", result_files.back().string());
    auto cand = slurp(d / "candidates.csv");
    if (!cand) return cand.error();
    auto clines = csv_records(*cand);
    for (std::size_t i = 0; i < clines.size(); ++i) {
      if (i == 0) {
        candidates_header = clines[0];
        continue;
      }
      if (clines[i].empty()) continue;
      const auto comma = clines[i].find(',');
      auto fields = csv_split(clines[i]);
      std::string patient = fields.size() > 1 ? fields[1] : "";
      if (patient.size() >= 2) patient = patient.substr(1, patient.size() - 2);
      // csv_field's guard against spreadsheet formulas ("'-dash" for the id "-dash"); a FHIR id has no "'".
      if (patient.size() > 1 && patient[0] == '\'') patient.erase(0, 1);
      candidate_rows[patient] = clines[i].substr(comma);  // ",\"id\",tier,...\r"
    }
    auto att = slurp(d / "attrition.csv");
    if (!att) return att.error();
    auto alines = csv_records(*att);
    for (std::size_t i = 1; i < alines.size(); ++i) {
      std::string l = alines[i];
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (l.empty()) continue;
      auto f = csv_split(l);
      if (attrition.size() < i) {
        attrition.push_back(f);
        continue;
      }
      auto& a = attrition[i - 1];
      for (std::size_t c = 5; c <= 9 && c < f.size(); ++c)
        if (!f[c].empty()) a[c] = std::to_string(std::stoul(a[c]) + std::stoul(f[c]));
    }
    if (alines.size()) attrition_header = alines[0];
    auto iss = slurp(d / "data_issues.ndjson");
    if (!iss) return iss.error();
    for (auto& l : lines_of(*iss))
      if (!l.empty() && seen_issues.insert(l).second) issues.push_back(l);
    ++sum.shards;
  }
  if (static_cast<int>(ks.size()) != n)
    return make_error("a split into " + std::to_string(n) + " needs shards 1.." + std::to_string(n) +
                          ", got " + std::to_string(ks.size()),
                      "merge");

  // The order and ranks of an unsharded run (ranking::rank_all): tier, score descending, patient id.
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    if (a.order != b.order) return a.order < b.order;
    if (a.outcome.score != b.outcome.score) return a.outcome.score > b.outcome.score;
    return a.outcome.patient_id < b.outcome.patient_id;
  });
  if (auto d = make_private_dir(out, "output folder"); !d) return d.error();
  if (auto m = remove_file(out / "manifest.json"); !m) return m.error();  // written last (see app/run.cpp)
  std::vector<report::OutputFile> written;  // for the manifest, in the order written
  // results.ndjson: each shard's lines copied in the merged order, with their new rank.
  std::string candidates = candidates_header + "\n";
  {
    auto file = AtomicFile::create(out / "results.ndjson");
    if (!file) return file.error();
    std::vector<std::ifstream> in;
    for (const auto& p : result_files) in.emplace_back(p, std::ios::binary);
    std::string line;
    int rank = 0;
    for (auto& r : rows) {
      const int new_rank = r.order == 2 ? 0 : ++rank;
      r.outcome.rank = new_rank;
      line.resize(r.size);
      auto& f = in[r.file];
      f.seekg(static_cast<std::streamoff>(r.offset));
      if (!f.read(line.data(), static_cast<std::streamsize>(r.size)) || fnv1a(line) != r.hash)
        return make_error("changed while it was being merged (read it again: rerun merge)",
                          result_files[r.file].string());
      const auto at = line.find("\"rank\":");
      if (at != std::string::npos) {
        const auto end = line.find(',', at);
        line.replace(at, end - at, "\"rank\":" + std::to_string(new_rank));
      }
      line += '\n';
      if (auto w = (*file)->write(line); !w) return w.error();
      if (r.order == 0) ++sum.eligible;
      if (r.order == 1) ++sum.possible;
      if (r.order == 2) ++sum.ineligible;
      if (new_rank) candidates += std::to_string(new_rank) + candidate_rows[r.outcome.patient_id] + "\n";
    }
    if (auto c = (*file)->commit(); !c) return c.error();
    written.push_back({"results.ndjson", (*file)->fingerprint()});
  }
  // Attrition: counts add up over shards; what remains after each criterion follows from them.
  std::string attr = attrition_header + "\n";
  std::size_t remaining = rows.size();
  for (auto& a : attrition) {
    if (a.size() < 11) continue;
    const std::size_t removed = a[9].empty() ? 0 : std::stoul(a[9]);
    remaining -= std::min(remaining, removed);
    a[10] = std::to_string(remaining);
    std::string l;
    for (std::size_t c = 0; c < a.size(); ++c) l += (c ? "," : "") + a[c];
    attr += l + "\r\n";
  }
  std::string all_issues;
  for (const auto& l : issues) {
    all_issues += l + "\n";
    json::Document doc;
    json::ParseError err;
    if (json::parse(l, doc, err)) ++info.issues_by_kind[str(json::member(doc, "kind"))];
  }

  // report.html and group.json from the lines read back, with the run described by the shards' manifests:
  // the earliest start, the latest finish, complete only if every shard was.
  for (const auto& v : versions) info.tool_version += (info.tool_version.empty() ? "" : ", ") + v;
  const bool one_source = std::all_of(sources.begin(), sources.end(),
                                      [&](const auto& s) { return s.second == sources.begin()->second; });
  if (one_source) {
    info.source = sources.begin()->second + " (merged from " + std::to_string(n) + " shards)";
  } else {
    for (const auto& [k, src] : sources)
      info.source += (info.source.empty() ? "" : "; ") +
                     ("shard " + std::to_string(k) + "/" + std::to_string(n) + ": " + src);
  }
  info.incomplete = merge_incomplete(incomplete);
  info.unidentified_drugs = terminology::unidentified_by_use(unidentified);
  info.shard = "merged from " + std::to_string(n) + " shards";
  const auto mode = *report::parse_export_mode(info.export_mode);
  std::vector<ranking::PatientOutcome> outcomes;
  outcomes.reserve(rows.size());
  for (auto& r : rows) outcomes.push_back(std::move(r.outcome));
  {  // streamed: tens of MB for a hospital
    auto file = AtomicFile::create(out / "report.html");
    if (!file) return file.error();
    Status w = Status::success();
    report::html_report(*trial, info, outcomes, mode, [&](std::string_view piece) {
      if (w.ok()) w = (*file)->write(piece);
    });
    if (!w) return w.error();
    if (auto c = (*file)->commit(); !c) return c.error();
    written.push_back({"report.html", (*file)->fingerprint()});
  }
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"candidates.csv", candidates},
           {"attrition.csv", attr},
           {"data_issues.ndjson", all_issues},
           {"group.json", report::fhir_group_json(*trial, info, outcomes, mode, nullptr)}}) {
    auto st = write_file_atomic(out / name, text);
    if (!st) return st.error();
    written.push_back({name, *st});
  }
  json::Writer w;
  w.begin_object().key("merged").boolean(true).key("shards").integer(n).key("from").begin_array();
  for (const auto& d : dirs) w.str(d.string());
  w.end_array().key("ineligible_detail").str(info.ineligible_detail);
  w.key("patients").integer(static_cast<long long>(rows.size()));
  w.key("tiers").begin_object().key("eligible").integer(static_cast<long long>(sum.eligible));
  w.key("possible").integer(static_cast<long long>(sum.possible));
  w.key("ineligible").integer(static_cast<long long>(sum.ineligible)).end_object();
  w.key("outputs");
  report::write_outputs(w, written);
  w.end_object();
  auto st = write_file_atomic(out / "manifest.json", std::string(w.view()) + "\n");
  if (!st) return st.error();
  sum.patients = rows.size();
  return sum;
}

}  // namespace cf::app
