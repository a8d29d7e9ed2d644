#include <algorithm>
#include <exception>
#include <iostream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <sys/resource.h>

#include "cli/cli.hpp"
#include "cli/hardening.hpp"
#include "core/stop_signal.hpp"

int main(int argc, char** argv) {
  for (const auto& w : cf::cli::harden_process()) std::cerr << "cohort-finder: warning: " << w << "\n";
  cf::install_stop_handlers();
  // Spilling a large input uses a scratch file per partition: take the file descriptors the system allows
  // (the soft limit is often 1024 while the hard one is far higher).
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 65536);
    ::setrlimit(RLIMIT_NOFILE, &lim);
  }
#if defined(__GLIBC__)
  // glibc gives each new thread its own heap (up to 8 per core), and memory freed in one is not reused by the
  // others: with parsing threads that come and go, the resident size grew to several times what was live.
  // (For builds without tcmalloc, see src/cli/CMakeLists.txt; with it, mallopt does nothing.)
  mallopt(M_ARENA_MAX, 2);
#endif
  try {
    return cf::cli::main(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "cohort-finder: internal error: " << e.what() << "\n";
    return cf::cli::kInternal;
  }
}
