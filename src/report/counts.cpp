#include "report/counts.hpp"

#include <map>

namespace cf::report {

std::string publish_count(std::size_t n, const CellPolicy& p) {
  if (n == 0) return "0";
  if (n < p.min_count) return "<" + std::to_string(p.min_count);
  const std::size_t r = p.round_to ? p.round_to : 1;
  return std::to_string((n + r / 2) / r * r);
}

RunInfo counts_run_info(RunInfo info, const CellPolicy& p) {
  std::vector<std::string> kept;
  std::map<std::string, std::size_t> per_patient;  // type -> patients with it incomplete
  const std::string marker = " (patient ";
  for (auto& s : info.incomplete) {
    const auto at = s.find(marker);
    if (at == std::string::npos)
      kept.push_back(std::move(s));
    else
      ++per_patient[s.substr(0, at)];
  }
  for (const auto& [type, n] : per_patient) kept.push_back(type + " (" + publish_count(n, p) + " patients)");
  info.incomplete = std::move(kept);
  // Feasibility counts need no mapping work list, and a rare local code beside a small count says more
  // about a patient than a count may.
  info.unidentified_drugs.clear();
  return info;
}

}  // namespace cf::report
