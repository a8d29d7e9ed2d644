// libFuzzer target: trial-definition loading and compilation (errors must be values, never crashes).
#include <memory>
#include <string_view>

#include "criteria/trial.hpp"

namespace {
std::shared_ptr<const cf::terminology::Terminology> terms() {
  static auto t = cf::terminology::Terminology::load(COHORT_SOURCE_DIR "/mappings");
  return t ? *t : nullptr;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  auto t = terms();
  if (!t) return 0;
  auto trial =
      cf::criteria::Trial::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", *t);
  (void)trial;
  return 0;
}
