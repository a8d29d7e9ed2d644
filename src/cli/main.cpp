#include <exception>
#include <iostream>

#include "cli/cli.hpp"

int main(int argc, char** argv) {
  try {
    return cf::cli::main(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "cohort-finder: internal error: " << e.what() << "\n";
    return cf::cli::kInternal;
  }
}
