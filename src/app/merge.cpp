#include "app/merge.hpp"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/files.hpp"
#include "core/shard.hpp"
#include "json/json.hpp"
#include "report/outputs.hpp"

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

struct Row {
  int order = 2;
  double score = 0;
  std::string patient, line;
};

}  // namespace

Result<MergeSummary> merge(const std::vector<fs::path>& dirs, const fs::path& out) {
  if (dirs.empty()) return make_error("no shard folders given", "merge");
  MergeSummary sum;
  std::string key;  // trial, mappings, as-of and export mode that every shard must share
  std::set<int> ks;
  int n = 0;
  std::vector<Row> rows;
  std::map<std::string, std::string> candidate_rows;  // patient -> candidates.csv record without its rank
  std::string candidates_header, attrition_header;
  std::vector<std::vector<std::string>> attrition;  // summed rows
  std::vector<std::string> issues;
  std::set<std::string> seen_issues;
  std::size_t deceased_removed = 0;
  for (const auto& d : dirs) {
    auto m = slurp(d / "manifest.json");
    if (!m) return m.error();
    json::Document doc;
    json::ParseError err;
    if (!json::parse(*m, doc, err)) return make_error(err.message, (d / "manifest.json").string());
    const json::Value* maps = json::member(doc, "mappings");
    std::string k = json::serialize(*json::member(json::member(doc, "trial"), "sha256")) + "|" +
                    (maps ? json::serialize(*maps) : "") + "|" +
                    std::string(json::string(json::member(doc, "as_of")).value_or("")) + "|" +
                    std::string(json::string(json::member(doc, "export_mode")).value_or(""));
    if (key.empty()) key = k;
    if (k != key)
      return make_error(
          "this shard was made with another trial definition, mappings, as-of date or export mode",
          d.string());
    auto shard = Shard::parse(json::string(json::member(doc, "shard")).value_or("1/1"));
    if (!shard) return make_error("manifest has no valid shard", d.string());
    if (n == 0) n = shard->n;
    if (shard->n != n)
      return make_error("shard of a split into " + std::to_string(shard->n) + ", not " + std::to_string(n),
                        d.string());
    if (!ks.insert(shard->k).second) return make_error("shard " + shard->str() + " given twice", d.string());
    if (auto p = json::number_text(json::member(doc, "patients")))
      sum.patients += std::stoul(std::string(*p));

    auto res = slurp(d / "results.ndjson");
    if (!res) return res.error();
    for (auto& line : lines_of(*res)) {
      if (line.empty()) continue;
      json::Document r;
      if (!json::parse(line, r, err)) return make_error(err.message, (d / "results.ndjson").string());
      Row row;
      row.patient = std::string(json::string(json::member(r, "patient")).value_or(""));
      row.order = tier_order(std::string(json::string(json::member(r, "tier")).value_or("")));
      row.score = std::stod(std::string(json::number_text(json::member(r, "score")).value_or("0")));
      row.line = std::move(line);
      rows.push_back(std::move(row));
    }
    auto cand = slurp(d / "candidates.csv");
    if (!cand) return cand.error();
    auto clines = lines_of(*cand);
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
      candidate_rows[patient] = clines[i].substr(comma);  // ",\"id\",tier,...\r"
    }
    auto att = slurp(d / "attrition.csv");
    if (!att) return att.error();
    auto alines = lines_of(*att);
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
    if (a.score != b.score) return a.score > b.score;
    return a.patient < b.patient;
  });
  std::string results, candidates = candidates_header + "\n";
  int rank = 0;
  for (auto& r : rows) {
    const int new_rank = r.order == 2 ? 0 : ++rank;
    const auto at = r.line.find("\"rank\":");
    if (at != std::string::npos) {
      const auto end = r.line.find(',', at);
      r.line.replace(at, end - at, "\"rank\":" + std::to_string(new_rank));
    }
    results += r.line + "\n";
    if (r.order == 0) ++sum.eligible;
    if (r.order == 1) ++sum.possible;
    if (r.order == 2) ++sum.ineligible;
    if (new_rank) candidates += std::to_string(new_rank) + candidate_rows[r.patient] + "\n";
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
  (void)deceased_removed;
  std::string all_issues;
  for (const auto& l : issues) all_issues += l + "\n";

  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) return make_error("cannot create output folder: " + ec.message(), out.string());
  for (const auto& [name, text] :
       std::vector<std::pair<std::string, std::string>>{{"candidates.csv", candidates},
                                                        {"results.ndjson", results},
                                                        {"attrition.csv", attr},
                                                        {"data_issues.ndjson", all_issues}}) {
    auto st = write_file_atomic(out / name, text);
    if (!st) return st.error();
  }
  json::Writer w;
  w.begin_object().key("merged").boolean(true).key("shards").integer(n).key("from").begin_array();
  for (const auto& d : dirs) w.str(d.string());
  w.end_array().key("patients").integer(static_cast<long long>(rows.size()));
  w.key("tiers").begin_object().key("eligible").integer(static_cast<long long>(sum.eligible));
  w.key("possible").integer(static_cast<long long>(sum.possible));
  w.key("ineligible").integer(static_cast<long long>(sum.ineligible)).end_object();
  w.key("outputs")
      .begin_array()
      .str("candidates.csv")
      .str("results.ndjson")
      .str("attrition.csv")
      .str("data_issues.ndjson");
  w.end_array().end_object();
  auto st = write_file_atomic(out / "manifest.json", std::string(w.view()) + "\n");
  if (!st) return st.error();
  sum.patients = rows.size();
  return sum;
}

}  // namespace cf::app
