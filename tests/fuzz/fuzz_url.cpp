// libFuzzer target for the parsers that read server-supplied control data: Url::parse, resolve (FHIR next
// links) and parse_retry_after (RELIABILITY.md D8). Besides "no crash, no sanitizer report" it checks
// invariants: normalisation is idempotent and a parsed URL is same-origin with its own re-parse.
//
//   cmake --preset fuzz && cmake --build --preset fuzz --target fuzz_url
//   build/fuzz/tests/fuzz/fuzz_url tests/fuzz/corpus/url -max_total_time=60
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "transport/retry_after.hpp"
#include "transport/url.hpp"

namespace {

using cf::transport::Url;

void check_round_trip(const Url& url) {
  if (url.target.empty() || url.target[0] != '/') __builtin_trap();
  if (url.scheme != "http" && url.scheme != "https") __builtin_trap();
  const std::string text = url.str();
  (void)url.redacted();
  if (text.size() > Url::max_length) return;  // normalisation may add a '/' to a URL at the length limit
  auto again = Url::parse(text);
  if (!again.ok() || !(*again == url) || !cf::transport::same_origin(url, *again)) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto url = Url::parse(input); url.ok()) check_round_trip(*url);

  static const Url base = *Url::parse("https://fhir.example:8443/r4/Patient?_count=10");
  if (auto resolved = cf::transport::resolve(base, input); resolved.ok()) check_round_trip(*resolved);

  const auto now = std::chrono::system_clock::time_point{std::chrono::seconds{1766145600}};
  if (auto delay = cf::transport::parse_retry_after(input, now); delay && delay->count() < 0)
    __builtin_trap();
  return 0;
}
