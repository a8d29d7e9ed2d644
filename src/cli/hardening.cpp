#include "cli/hardening.hpp"

#include <cerrno>
#include <cstring>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

namespace cf::cli {

std::vector<std::string> harden_process() {
  std::vector<std::string> warnings;
  const rlimit no_core{0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0)
    warnings.push_back(std::string("cannot turn core dumps off (setrlimit RLIMIT_CORE): ") +
                       std::strerror(errno));
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    warnings.push_back(std::string("cannot make the process non-dumpable (prctl PR_SET_DUMPABLE): ") +
                       std::strerror(errno));
  ::umask(077);
  return warnings;
}

}  // namespace cf::cli
