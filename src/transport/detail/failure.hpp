#pragma once
// Why one attempt failed, and whether another attempt can help.
#include <string>

namespace cf::transport::detail {

struct Failure {
  std::string message;           // ours, never server text or header values
  bool retryable = false;        // transient: network errors, timeouts, truncation
  bool before_response = false;  // nothing of a response arrived: a reused connection was probably stale
};

}  // namespace cf::transport::detail
