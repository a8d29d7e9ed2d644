#include "report/outputs.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <tuple>

#include "core/date.hpp"
#include "json/json.hpp"
#include "report/counts.hpp"
#include "report/privacy.hpp"

namespace cf::report {

namespace {

// The shortest text that reads back as the same double (std::to_chars); display values only.
std::string fmt_number(double v) {
  if (!std::isfinite(v)) return "0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void write_evidence(json::Writer& w, const criteria::Evidence& e) {
  w.begin_object();
  w.field("resource", e.resource).field("versionId", e.version_id).field("lastUpdated", e.last_updated);
  w.field("location", e.location)
      .field("concept", e.concept_id)
      .field("coding", e.coding)
      .field("rule", e.rule);
  if (e.low_confidence) w.key("low_confidence").boolean(true);
  w.field("original", e.original).field("normalised", e.normalised).field("conversion", e.conversion);
  w.field("date", e.date).field("note", e.note);
  w.end_object();
}

}  // namespace

std::string csv_field(std::string_view s) {
  std::string v(s);
  if (!v.empty() &&
      (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r'))
    v.insert(0, "'");
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string candidates_csv(const std::vector<ranking::PatientOutcome>& outcomes) {
  static const char* kKeys[] = {"anti_dsdna", "ana_titre",         "c3", "c4",
                                "creatinine", "urine_protein_24h", "iga"};
  // UTF-8 byte-order mark and CRLF: Excel then opens the file with the right encoding and rows.
  std::string out = "\xEF\xBB\xBF";
  out +=
      "rank,patient_id,tier,score,screening_status,criteria_in_favour,unknown,not_in_favour,manual,check_"
      "next,"
      "sledai2k_lab_bound,eular_acr_lab_bound";
  for (const char* k : kKeys) out += std::string(",") + k + "," + k + "_date";
  out += "\r\n";
  for (const auto& o : outcomes) {
    if (o.tier == ranking::Tier::ineligible) continue;
    std::string check;
    for (const auto& c : o.check_next) check += (check.empty() ? "" : " | ") + c;
    out += std::to_string(o.rank) + "," + csv_field(o.patient_id) + "," + ranking::to_string(o.tier) + "," +
           format_score(o.score) + "," + csv_field(o.screening_status) + "," + std::to_string(o.in_favour) +
           "," + std::to_string(o.unknown) + "," + std::to_string(o.against) + "," +
           std::to_string(o.manual) + "," + csv_field(check) + "," + std::to_string(o.bounds.sledai2k) + "," +
           // Empty without the entry criterion: the points classify nothing then (results.ndjson has both).
           (o.bounds.eular_entry ? std::to_string(o.bounds.eular_acr) : std::string());
    for (const char* k : kKeys) {
      const ranking::KeyValue* kv = nullptr;
      for (const auto& x : o.key_values)
        if (x.concept_id == k) kv = &x;
      out += "," + csv_field(kv ? kv->value : "") + "," + csv_field(kv ? kv->date : "");
    }
    out += "\r\n";
  }
  return out;
}

std::string results_ndjson(const criteria::Trial& trial,
                           const std::vector<ranking::PatientOutcome>& outcomes) {
  std::string out;
  for (const auto& o : outcomes) {
    out += result_line(trial, o);
    out += '\n';
  }
  return out;
}

std::string changes_csv(const std::vector<Change>& changes) {
  std::string out = "\xEF\xBB\xBF";
  out += "change,patient_id,old_tier,new_tier,old_rank,new_rank,criteria_changed,screening_status\r\n";
  for (const auto& c : changes)
    out += c.kind + "," + csv_field(c.patient) + "," + c.old_tier + "," + c.new_tier + "," +
           (c.old_rank ? std::to_string(c.old_rank) : "") + "," +
           (c.new_rank ? std::to_string(c.new_rank) : "") + "," + csv_field(c.criteria_changed) + "," +
           csv_field(c.screening_status) + "\r\n";
  return out;
}

std::string format_score(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", s);
  return buf;
}

namespace {

// `s` as a JSON string, quoted and escaped exactly as json::Writer writes it.
std::string json_string(std::string_view s) {
  json::Writer w;
  w.str(s);
  return std::string(w.view());
}

std::string head_of(const criteria::Criterion& c, std::string_view id) {
  return "{\"id\":" + json_string(id) + ",\"kind\":" + (c.inclusion ? "\"inclusion\"" : "\"exclusion\"") +
         ",\"label\":" + json_string(c.label) + (c.analogue ? ",\"analogue\":true" : "") + ",\"outcome\":";
}

// The head of a criterion written as its outcome only (IneligibleDetail::deciding).
std::string brief_head_of(std::string_view id) {
  return "{\"id\":" + json_string(id) + ",\"outcome\":";
}

}  // namespace

std::optional<IneligibleDetail> parse_ineligible_detail(std::string_view s) {
  if (s == "deciding") return IneligibleDetail::deciding;
  if (s == "full") return IneligibleDetail::full;
  return std::nullopt;
}

const char* to_string(IneligibleDetail d) {
  return d == IneligibleDetail::full ? "full" : "deciding";
}

ResultLines::ResultLines(const criteria::Trial& trial, IneligibleDetail detail)
    : trial_(trial), detail_(detail) {
  for (const auto& c : trial.criteria) {
    heads_.push_back(head_of(c, c.id));
    brief_heads_.push_back(brief_head_of(c.id));
  }
}

std::string result_line(const criteria::Trial& trial, const ranking::PatientOutcome& o,
                        IneligibleDetail detail) {
  return ResultLines(trial, detail).line(o);
}

std::string ResultLines::line(const ranking::PatientOutcome& o) const {
  const criteria::Trial& trial = trial_;
  // Reused by each thread: a line is several kilobytes, and these keep their buffers.
  thread_local json::Writer w, part;
  thread_local std::string crit;
  w.clear();
  {
    w.begin_object();
    w.key("patient").str(o.patient_id);
    w.key("tier").str(ranking::to_string(o.tier));
    w.key("rank").integer(o.rank);
    w.key("score").raw_number(format_score(o.score));
    if (o.deceased) w.key("deceased").boolean(true);
    if (!o.deceased_evidence.empty()) {
      w.key("deceased_evidence").begin_array();
      for (const auto& e : o.deceased_evidence) write_evidence(w, e);
      w.end_array();
    }
    // What report.html shows of the patient and their labs, so that `merge` can write the report from the
    // lines alone (report/result_reader.hpp). Pseudonymised (de-identified) lines stay without it: they
    // cannot be merged, as their withheld scores no longer give the order (app/merge.hpp).
    const bool display = !o.pseudonymised;  // an identified id may look like a pseudonym ("pt-" + hex)
    const bool candidate = display && o.tier != ranking::Tier::ineligible;
    if (display) w.field("name", o.name);  // empty unless identified (report/privacy.hpp)
    if (candidate) w.field("gender", o.gender).field("birth_date", o.birth_date);
    w.key("deciding").begin_array();
    for (const auto& d : o.deciding) w.str(d);
    w.end_array();
    w.key("check_next").begin_array();
    for (const auto& c : o.check_next) w.str(c);
    w.end_array();
    w.key("scores").begin_object();
    w.key("sledai2k_lab_bound").integer(o.bounds.sledai2k);
    w.key("sledai2k_items").begin_array();
    for (const auto& i : o.bounds.sledai2k_items) w.str(i);
    w.end_array();
    w.key("eular_acr_lab_bound").integer(o.bounds.eular_acr);
    w.key("eular_acr_entry").boolean(o.bounds.eular_entry);
    w.key("eular_acr_items").begin_array();
    for (const auto& i : o.bounds.eular_items) w.str(i);
    w.end_array();
    if (candidate && !o.bounds.evidence.empty()) {  // referenced by group.json
      w.key("evidence").begin_array();
      for (const auto& e : o.bounds.evidence)
        w.begin_object().field("resource", e.resource).field("versionId", e.version_id).end_object();
      w.end_array();
    }
    w.end_object();
    // The criteria array is put together from the serialised heads and written in one piece.
    crit.assign(1, '[');
    const bool brief = o.tier == ranking::Tier::ineligible && detail_ == IneligibleDetail::deciding;
    for (std::size_t i = 0; i < o.results.size(); ++i) {
      const auto& r = o.results[i];
      const auto& c = trial.criteria[i];
      if (i) crit += ',';
      if (brief && std::find(o.deciding.begin(), o.deciding.end(), r.id) == o.deciding.end()) {
        crit += r.id == c.id ? brief_heads_[i] : brief_head_of(r.id);
        crit += '"';
        crit += criteria::to_string(r.outcome);
        crit += "\"}";
        continue;
      }
      crit += r.id == c.id ? heads_[i] : head_of(c, r.id);
      crit += '"';
      crit += criteria::to_string(r.outcome);  // a plain word
      crit += "\",\"reason\":";
      part.clear();
      part.str(r.reason);
      crit += part.view();
      crit += ",\"evidence\":";
      part.clear();
      part.begin_array();
      for (const auto& e : r.evidence) write_evidence(part, e);
      part.end_array();
      crit += part.view();
      crit += '}';
    }
    crit += ']';
    w.key("criteria").raw_value(crit);
    if (candidate && !o.key_values.empty()) {
      w.key("key_values").begin_array();
      for (const auto& kv : o.key_values)
        w.begin_object()
            .field("concept", kv.concept_id)
            .field("value", kv.value)
            .field("date", kv.date)
            .field("resource", kv.resource)
            .end_object();
      w.end_array();
    }
    if (candidate && !o.series.empty()) {  // the trend charts, in the analyte's canonical unit
      w.key("series").begin_array();
      for (const auto& p : o.series) {
        w.begin_object().field("concept", p.concept_id).field("date", format_day(p.day));
        w.key("value").raw_number(fmt_number(p.value));
        w.field("comparator", p.comparator).field("unit", p.unit).field("resource", p.resource).end_object();
      }
      w.end_array();
    }
    if (!o.screening_status.empty())
      w.key("screening").begin_object().key("status").str(o.screening_status).end_object();
    w.end_object();
  }
  return std::string(w.view());
}

std::string attrition_csv(const criteria::Trial& trial, const std::vector<ranking::PatientOutcome>& outcomes,
                          const CellPolicy* cells) {
  auto count = [&](std::size_t n) { return cells ? publish_count(n, *cells) : std::to_string(n); };
  // Per criterion: how it decided every patient, and (in definition order) how many candidates each removed.
  std::string out = "\xEF\xBB\xBF";
  out +=
      "order,criterion,kind,label,analogue,met,not_met,unknown,manual,removed_in_order,remaining_after\r\n";
  std::vector<bool> alive(outcomes.size(), true);
  std::size_t remaining = 0;
  for (std::size_t p = 0; p < outcomes.size(); ++p) {
    if (outcomes[p].deceased) alive[p] = false;
    if (alive[p]) ++remaining;
  }
  out += "0,\"deceased\",built-in,\"Deceased patients are never candidates\",false,,,,," +
         count(outcomes.size() - remaining) + "," + count(remaining) + "\r\n";
  for (std::size_t i = 0; i < trial.criteria.size(); ++i) {
    const auto& c = trial.criteria[i];
    std::size_t n[4] = {0, 0, 0, 0}, removed = 0;
    for (std::size_t p = 0; p < outcomes.size(); ++p) {
      auto oc = ranking::outcome_at(outcomes[p], i);
      ++n[static_cast<int>(oc)];
      const bool bad = c.inclusion ? oc == criteria::Outcome::not_met : oc == criteria::Outcome::met;
      if (alive[p] && bad) {
        alive[p] = false;
        ++removed;
      }
    }
    remaining -= removed;
    out += std::to_string(i + 1) + "," + csv_field(c.id) + "," + (c.inclusion ? "inclusion" : "exclusion") +
           "," + csv_field(c.label) + "," + (c.analogue ? "true" : "false") + "," + count(n[0]) + "," +
           count(n[1]) + "," + count(n[2]) + "," + count(n[3]) + "," + count(removed) + "," +
           count(remaining) + "\r\n";
  }
  return out;
}

namespace {

// "a.ndjson:9" before "a.ndjson:10": runs of digits compare as numbers, everything else byte by byte.
int natural_compare(std::string_view a, std::string_view b) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (digit(a[i]) && digit(b[j])) {
      std::size_t ie = i, je = j;
      while (ie < a.size() && digit(a[ie])) ++ie;
      while (je < b.size() && digit(b[je])) ++je;
      std::size_t is = i, js = j;  // without leading zeros
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js ? -1 : 1;
      if (const int c = a.substr(is, ie - is).compare(b.substr(js, je - js)); c != 0) return c;
      if (ie - i != je - j) return ie - i < je - j ? -1 : 1;  // "07" after "7"
      i = ie;
      j = je;
      continue;
    }
    if (a[i] != b[j]) return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[j]) ? -1 : 1;
    ++i;
    ++j;
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

}  // namespace

std::string issues_ndjson(const std::vector<DataIssue>& issues) {
  // In the order of where they were found (file and line, bundle entry, page), whatever order the threads and
  // partitions of the run reported them in.
  std::vector<const DataIssue*> sorted;
  sorted.reserve(issues.size());
  for (const auto& i : issues) sorted.push_back(&i);
  std::stable_sort(sorted.begin(), sorted.end(), [](const DataIssue* a, const DataIssue* b) {
    if (const int c = natural_compare(a->location, b->location); c != 0) return c < 0;
    return std::tie(a->kind, a->resource, a->path, a->message, a->severity) <
           std::tie(b->kind, b->resource, b->path, b->message, b->severity);
  });
  std::string out;
  json::Writer w;
  for (const DataIssue* issue : sorted) {
    const DataIssue& i = *issue;
    w.clear();
    w.begin_object();
    w.key("severity").str(to_string(i.severity));
    w.key("kind").str(i.kind);
    w.field("location", i.location).field("resource", i.resource).field("path", i.path);
    w.key("message").str(i.message);
    w.end_object();
    out += w.view();
    out += '\n';
  }
  return out;
}

void write_outputs(json::Writer& w, const std::vector<OutputFile>& outputs) {
  w.begin_array();
  for (const auto& o : outputs)
    w.begin_object()
        .key("file")
        .str(o.name)
        .key("sha256")
        .str(o.fingerprint.sha256)
        .key("bytes")
        .integer(static_cast<long long>(o.fingerprint.bytes))
        .key("lines")
        .integer(static_cast<long long>(o.fingerprint.lines))
        .end_object();
  w.end_array();
}

std::string manifest_json(const criteria::Trial& trial, const RunInfo& info,
                          const std::vector<ranking::PatientOutcome>& outcomes,
                          const std::vector<OutputFile>& outputs, const CellPolicy* cells) {
  json::Writer w;
  w.begin_object();
  if (info.run_id > 0) w.key("run").integer(info.run_id);
  w.key("tool")
      .begin_object()
      .key("name")
      .str("cohort-finder")
      .key("version")
      .str(info.tool_version)
      .end_object();
  w.key("as_of").str(info.as_of);
  w.key("export_mode").str(info.export_mode);
  w.key("ineligible_detail").str(info.ineligible_detail);
  w.key("shard").str(info.shard);
  w.key("source").str(info.source);
  w.key("started").str(info.started);
  w.key("finished").str(info.finished);
  w.key("trial").begin_object();
  w.key("id")
      .str(trial.id)
      .key("version")
      .str(trial.version)
      .key("file")
      .str(trial.file)
      .key("sha256")
      .str(trial.sha256);
  w.end_object();
  w.key("mappings").begin_array();
  for (const auto& [f, h] : info.mapping_files)
    w.begin_object().key("file").str(f).key("sha256").str(h).end_object();
  w.end_array();
  // A counts-only export (cells) puts every count through the small-cell rule, resources and data issues
  // too: Patient resources read, or missing-patient issues, count patients as exactly as the tiers do.
  auto number = [&](std::size_t n) {
    if (cells)
      w.str(publish_count(n, *cells));
    else
      w.integer(static_cast<long long>(n));
  };
  auto counts = [&](const char* k, const std::map<std::string, std::size_t>& m) {
    w.key(k).begin_object();
    for (const auto& [name, n] : m) {
      w.key(name);
      number(n);
    }
    w.end_object();
  };
  w.key("resources").begin_object();
  counts("read", info.read_by_type);
  counts("other_types_skipped", info.skipped_by_type);
  w.key("rejected");
  number(info.rejected);
  counts("prefiltered", info.prefiltered_by_type);  // read types, skipped unparsed: no mapped code or text
  w.key("kept_as_evidence");
  number(info.kept);
  w.key("not_relevant");
  number(info.unmatched);
  w.key("duplicates");
  number(info.duplicates);
  w.key("unattributed");
  number(info.unattributed);
  w.key("files").integer(static_cast<long long>(info.files));
  // Drugs the mappings do not identify: their codes, name (identified and limited exports), uses and
  // patients.
  w.key("unidentified_drugs").begin_array();
  for (const auto& d : info.unidentified_drugs) {
    w.begin_object().key("codes").begin_array();
    for (const auto& c : d.codes) w.str(c);
    w.end_array();
    if (!d.name.empty()) w.key("name").str(d.name);
    w.key("uses");
    number(d.uses);
    w.key("patients");
    number(d.patients);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.key("complete").boolean(info.complete);
  w.key("incomplete").begin_array();
  for (const auto& s : info.incomplete) w.str(s);
  w.end_array();
  counts("data_issues", info.issues_by_kind);
  std::map<std::string, std::size_t> tiers{{"eligible", 0}, {"possible", 0}, {"ineligible", 0}};
  for (const auto& o : outcomes) ++tiers[ranking::to_string(o.tier)];
  if (cells) {  // counts-only: the same members, as text through the small-cell rule
    w.key("patients").str(publish_count(outcomes.size(), *cells));
    w.key("tiers").begin_object();
    for (const auto& [name, n] : tiers) w.key(name).str(publish_count(n, *cells));
    w.end_object();
    w.key("small_cells")
        .begin_object()
        .key("suppressed_below")
        .integer(static_cast<long long>(cells->min_count))
        .key("rounded_to")
        .integer(static_cast<long long>(cells->round_to))
        .end_object();
  } else {
    w.key("patients").integer(static_cast<long long>(outcomes.size()));
    counts("tiers", tiers);
  }
  if (info.audit_entry > 0)
    w.key("audit")
        .begin_object()
        .key("entry")
        .integer(info.audit_entry)
        .key("sha256")
        .str(info.audit_hash)
        .end_object();
  w.key("outputs");
  write_outputs(w, outputs);
  w.end_object();
  return std::string(w.view()) + "\n";
}

Result<std::string> explain(const std::filesystem::path& file, const std::string& patient_id) {
  std::ifstream in(file);
  if (!in) return make_error("cannot read results (run `cohort-finder run` first)", file.string());
  std::string line;
  json::Document doc;
  json::ParseError err;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find("\"" + patient_id + "\"") == std::string::npos) continue;
    if (!json::parse(line, doc, err)) return make_error(err.message, file.string() + ":" + std::to_string(n));
    if (json::string(json::member(doc, "patient")).value_or("") != patient_id) continue;
    return explain_line(line, patient_id);
  }
  return make_error("patient '" + patient_id + "' is not in the results", file.string());
}

Result<std::string> explain_line(const std::string& line, const std::string& patient_id) {
  json::Document doc;
  json::ParseError err;
  if (!json::parse(line, doc, err)) return make_error(err.message, "stored result of " + patient_id);
  {
    auto s = [&](const json::Value* v) { return std::string(json::string(v).value_or("")); };
    std::string out;
    out += "Patient " + patient_id + ": " + s(json::member(doc, "tier"));
    auto rank = json::number_text(json::member(doc, "rank"));
    if (rank && *rank != "0") out += ", rank " + std::string(*rank);
    out += ", score " + std::string(json::number_text(json::member(doc, "score")).value_or("0")) + "\n";
    auto print_evidence = [&](const json::Value& e) {
      out += "    - " + s(json::member(e, "resource"));
      std::string v = s(json::member(e, "versionId"));
      if (!v.empty()) out += " (version " + v + ")";
      std::string date = s(json::member(e, "date"));
      if (!date.empty()) out += " dated " + date;
      std::string orig = s(json::member(e, "original"));
      if (!orig.empty()) out += ": " + orig;
      std::string norm = s(json::member(e, "normalised"));
      if (!norm.empty() && norm != orig) out += " -> " + norm;
      out += "\n";
      std::string coding = s(json::member(e, "coding"));
      if (!coding.empty()) out += "      code " + coding + "; rule: " + s(json::member(e, "rule")) + "\n";
      std::string conv = s(json::member(e, "conversion"));
      if (!conv.empty()) out += "      conversion: " + conv + "\n";
      std::string note = s(json::member(e, "note"));
      if (!note.empty()) out += "      " + note + "\n";
    };
    if (json::boolean(json::member(doc, "deceased")).value_or(false)) {
      out += "  The patient is deceased.\n";
      json::for_each(json::member(doc, "deceased_evidence"),
                     [&](std::size_t, const json::Value& e) { print_evidence(e); });
    }
    json::for_each(json::member(doc, "deciding"), [&](std::size_t i, const json::Value& d) {
      out += (i == 0 ? "  Ineligible because of: " : ", ") + s(&d);
    });
    if (json::member(doc, "deciding") && !json::member(doc, "deciding")->Empty()) out += "\n";
    bool brief = false;  // criteria written as their outcome only (report::IneligibleDetail)
    json::for_each(json::member(doc, "criteria"),
                   [&](std::size_t, const json::Value& c) { brief = brief || !json::member(c, "reason"); });
    if (brief)
      out +=
          "  Reasons and evidence were written for the criteria that made the patient ineligible; the others "
          "show\n  their outcome only (`run --ineligible-detail full` writes them all).\n";
    json::for_each(json::member(doc, "check_next"), [&](std::size_t i, const json::Value& c) {
      out += (i == 0 ? "  Check next:\n" : "") + std::string("    - ") + s(&c) + "\n";
    });
    const json::Value* sc = json::member(doc, "scores");
    out += "  Lab-only lower bounds: SLEDAI-2K " +
           std::string(json::number_text(json::member(sc, "sledai2k_lab_bound")).value_or("0")) +
           ", EULAR/ACR " +
           std::string(json::number_text(json::member(sc, "eular_acr_lab_bound")).value_or("0")) + "\n\n";
    json::for_each(json::member(doc, "criteria"), [&](std::size_t, const json::Value& c) {
      std::string outcome = s(json::member(c, "outcome"));
      std::string kind = s(json::member(c, "kind"));
      out += "[" + outcome + "] " + s(json::member(c, "id")) + (kind.empty() ? "" : " (" + kind + ") ") +
             s(json::member(c, "label")) +
             (json::boolean(json::member(c, "analogue")).value_or(false) ? " [analogue threshold]" : "") +
             "\n";
      std::string reason = s(json::member(c, "reason"));
      if (!reason.empty()) out += "    because: " + reason + "\n";
      json::for_each(json::member(c, "evidence"),
                     [&](std::size_t, const json::Value& e) { print_evidence(e); });
    });
    if (const json::Value* status = json::member(json::member(doc, "screening"), "status"))
      out += "Screening status: " + s(status) + "\n";
    return out;
  }
}

}  // namespace cf::report
