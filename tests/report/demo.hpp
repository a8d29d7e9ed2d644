#pragma once
// The demo population (fhir-samples/) through the real source, mappings, engine and ranking, in process, as
// app/run.cpp does it, so the report tests see exactly what a run would write.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/date.hpp"
#include "core/text.hpp"
#include "report/outputs.hpp"
#include "support/scenario.hpp"

namespace cf::test {

struct Run {
  std::vector<ranking::PatientOutcome> outcomes;  // ranked
  report::RunInfo info;
};

inline Run run_records(source::FileSource& src, const std::string& as_of) {
  IssueLog issues;
  terminology::Collector col(terms());
  auto st = src.read(
      [&](source::Page&& p) {
        for (auto& r : p.resources) col.add(std::move(r));
      },
      issues);
  if (!st) throw std::runtime_error(st.error().what());
  Run run;
  for (const auto& [id, rec] : col.finish(issues)) {
    criteria::Context ctx{rec, *terms(), *parse_iso_day(as_of), nullptr, nct().sledai_window, std::nullopt};
    run.outcomes.push_back(ranking::assess(nct(), ctx));
  }
  ranking::rank_all(run.outcomes);
  run.info.tool_version = "test";
  run.info.as_of = as_of;
  run.info.source = src.describe();
  run.info.started = "2026-11-26T02:00:00Z";
  run.info.finished = "2026-11-26T02:00:05Z";
  run.info.issues_by_kind = issues.counts_by_kind();
  run.info.complete = src.completeness().complete();
  run.info.unidentified_drugs = terminology::unidentified_by_use(col.stats().unidentified);
  return run;
}

inline const Run& demo() {
  static const Run run = [] {
    source::FileSource src(
        std::vector<std::filesystem::path>{repo() / "fhir-samples/ndjson", repo() / "fhir-samples/bundles"});
    return run_records(src, "2026-11-26");
  }();
  return run;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

// Plain scanners instead of std::regex: GCC 12 reports false -Wmaybe-uninitialized inside <regex> at -O2.

// An attribute (src, href, action, srcset, xlink:href) or CSS url() whose value reaches the network:
// "http://", "https://" or protocol-relative "//". Returns the offending excerpt, or "".
inline std::string network_reference(const std::string& html) {
  const std::string lower = to_lower_ascii(html);
  auto remote = [&](std::size_t v) {
    while (v < lower.size() && (lower[v] == ' ' || lower[v] == '"' || lower[v] == '\'' || lower[v] == '\n'))
      ++v;
    return lower.compare(v, 2, "//") == 0 || lower.compare(v, 7, "http://") == 0 ||
           lower.compare(v, 8, "https://") == 0;
  };
  for (const char* attr : {"src", "href", "action", "srcset"})
    for (auto p = lower.find(attr); p != std::string::npos; p = lower.find(attr, p + 1)) {
      if (p == 0 || !(lower[p - 1] == ' ' || lower[p - 1] == ':' || lower[p - 1] == '\n')) continue;
      auto v = p + std::string(attr).size();
      while (v < lower.size() && lower[v] == ' ') ++v;
      if (v < lower.size() && lower[v] == '=' && remote(v + 1)) return html.substr(p, 60);
    }
  for (auto p = lower.find("url("); p != std::string::npos; p = lower.find("url(", p + 1))
    if (remote(p + 4)) return html.substr(p, 60);
  return {};
}

// An on...= event handler inside any tag.
inline bool has_inline_handler(const std::string& html) {
  for (auto lt = html.find('<'); lt != std::string::npos; lt = html.find('<', lt + 1)) {
    const auto gt = html.find('>', lt);
    const std::string tag = to_lower_ascii(html.substr(lt, gt - lt));
    for (auto p = tag.find(" on"); p != std::string::npos; p = tag.find(" on", p + 1)) {
      auto e = p + 3;
      while (e < tag.size() && tag[e] >= 'a' && tag[e] <= 'z') ++e;
      if (e > p + 3 && e < tag.size() && tag[e] == '=') return true;
    }
  }
  return false;
}

// The candidate rows of report.html (as written, or as chromium dumps the DOM), in document order.
struct Row {
  unsigned rank = 0;
  std::string patient;
  bool hidden = false;
};
inline std::vector<Row> candidate_rows(const std::string& dom) {
  std::vector<Row> rows;
  const std::string open = "<tr data-rank=\"";
  for (auto p = dom.find(open); p != std::string::npos; p = dom.find(open, p + 1)) {
    const auto end = dom.find('>', p);
    const std::string tag = dom.substr(p, end - p);
    Row r;
    r.rank = static_cast<unsigned>(std::stoul(tag.substr(open.size())));
    const auto at = tag.find("data-patient=\"");
    if (at == std::string::npos) continue;
    r.patient = tag.substr(at + 14, tag.find('"', at + 14) - at - 14);
    r.hidden = tag.find(" hidden") != std::string::npos;
    rows.push_back(r);
  }
  return rows;
}

}  // namespace cf::test
