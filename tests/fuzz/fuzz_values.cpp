// libFuzzer target: the value parsers (decimals, dates, titres) and unit conversion of arbitrary text.
#include <string>
#include <string_view>

#include "core/date.hpp"
#include "core/decimal.hpp"
#include "terminology/values.hpp"

namespace {
std::shared_ptr<const cf::terminology::Terminology> terms() {
  static auto t = cf::terminology::Terminology::load(COHORT_SOURCE_DIR "/mappings");
  return t ? *t : nullptr;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  // Split "value|unit" so conversion sees both parts.
  auto bar = text.find('|');
  std::string_view value = text.substr(0, bar);
  std::string_view unit = bar == std::string_view::npos ? std::string_view() : text.substr(bar + 1);
  auto d = cf::Decimal::parse(value);
  if (d) {
    (void)d->to_string();
    auto other = cf::Decimal::parse("88.42");
    (void)(*d <=> *other);
    (void)d->times(*other);
  }
  for (auto kind : {cf::DateKind::date, cf::DateKind::date_time, cf::DateKind::instant}) {
    auto day = cf::parse_fhir_date(text, kind);
    if (day) (void)cf::format_day(day->first);
  }
  (void)cf::terminology::parse_titre(text);
  if (auto t = terms()) {
    cf::fhir::Quantity q;
    q.value = d;
    q.unit = std::string(unit);
    std::string why;
    for (const char* a : {"creatinine", "immunoglobulin", "temperature", "hemoglobin", "cell_count"})
      if (auto n = cf::terminology::normalise(*t, *t->analyte(a), q, why)) {
        (void)n->display();
        (void)n->describe();
      }
  }
  return 0;
}
