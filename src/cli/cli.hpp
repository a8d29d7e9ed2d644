#pragma once
#include <string>
#include <vector>

namespace cf::cli {

// Exit codes (also in README.md).
enum Exit : int {
  kOk = 0,          // run complete
  kInternal = 1,    // a bug: please report
  kUsage = 2,       // bad command line
  kConfig = 3,      // trial definition or mappings invalid
  kSource = 4,      // the source could not be read at all, or outputs could not be written
  kIncomplete = 5,  // outputs written, but some data could not be read: affected decisions are "unknown"
  kLocked = 6,      // another run is using the same state folder
  kTampered = 7,    // audit: the audit log's hash chain does not verify
};

int main(const std::vector<std::string>& args);

}  // namespace cf::cli
