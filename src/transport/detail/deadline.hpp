#pragma once
// The total time allowed for one attempt, and the timeout of each step within it.
#include <algorithm>
#include <chrono>

namespace cf::transport::detail {

class Deadline {
 public:
  using clock = std::chrono::steady_clock;
  explicit Deadline(std::chrono::milliseconds total) : at_(clock::now() + total), total_(total) {}

  clock::time_point at() const { return at_; }
  std::chrono::milliseconds total() const { return total_; }
  bool passed() const { return clock::now() >= at_; }
  // The timeout for the next step: its own limit, unless the attempt's deadline comes first.
  clock::duration step(std::chrono::milliseconds limit) const {
    return std::max(clock::duration::zero(), std::min<clock::duration>(limit, at_ - clock::now()));
  }
  // True when a step with this limit was cut short by the deadline rather than by its own limit.
  bool limits(std::chrono::milliseconds step_limit, clock::time_point step_start) const {
    return at_ < step_start + step_limit;
  }

 private:
  clock::time_point at_;
  std::chrono::milliseconds total_;
};

}  // namespace cf::transport::detail
