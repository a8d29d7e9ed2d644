#include "core/data_issue.hpp"

namespace cf {

const char* to_string(Severity s) {
  switch (s) {
    case Severity::error:
      return "error";
    case Severity::warning:
      return "warning";
    case Severity::info:
      return "info";
  }
  return "unknown";
}

void IssueLog::add(DataIssue issue) {
  std::lock_guard lock(mu_);
  issues_.push_back(std::move(issue));
}

void IssueLog::add(Severity s, std::string kind, std::string location, std::string resource, std::string path,
                   std::string message) {
  add(DataIssue{s, std::move(kind), std::move(location), std::move(resource), std::move(path),
                std::move(message)});
}

void IssueLog::merge(IssueLog&& other) {
  std::vector<DataIssue> moved;
  {
    std::lock_guard lock(other.mu_);
    moved.swap(other.issues_);
  }
  std::lock_guard lock(mu_);
  for (auto& i : moved) issues_.push_back(std::move(i));
}

std::vector<DataIssue> IssueLog::issues() const {
  std::lock_guard lock(mu_);
  return issues_;
}

std::map<std::string, std::size_t> IssueLog::counts_by_kind() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::size_t> out;
  for (const auto& i : issues_) ++out[i.kind];
  return out;
}

std::size_t IssueLog::size() const {
  std::lock_guard lock(mu_);
  return issues_.size();
}

}  // namespace cf
