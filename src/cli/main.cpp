#include <exception>
#include <iostream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "cli/cli.hpp"

int main(int argc, char** argv) {
#if defined(__GLIBC__)
  // glibc gives each new thread its own heap (up to 8 per core), and memory freed in one is not reused by the
  // others: with parsing threads that come and go, the resident size grew to several times what was live.
  mallopt(M_ARENA_MAX, 2);
#endif
  try {
    return cf::cli::main(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "cohort-finder: internal error: " << e.what() << "\n";
    return cf::cli::kInternal;
  }
}
