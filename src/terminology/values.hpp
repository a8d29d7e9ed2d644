#pragma once
// Reading Observation values the way the criteria need them: exact unit conversion, titres, positivity and
// low/high against reference ranges. Each reading says what it was based on, for the evidence trail.
#include <compare>
#include <optional>
#include <string>

#include "fhir/model.hpp"
#include "terminology/terminology.hpp"

namespace cf::terminology {

enum class Tri { met, not_met, unknown };
const char* to_string(Tri t);

enum class CompareOp { lt, le, gt, ge, eq };
std::optional<CompareOp> parse_op(std::string_view s);
const char* to_string(CompareOp op);

// Exactly compares canonical(v in unit with `vc`) with canonical(t in unit with `tc`).
std::strong_ordering compare_converted(const Decimal& v, const Conversion& vc, const Decimal& t,
                                       const Conversion& tc);

// Does a value written with `comparator` ("", "<", "<=", ">", ">=") satisfy `op threshold`? A comparator
// widens the value to an interval: met if every value in it satisfies the test, not met if none does, else
// unknown.
Tri test_with_comparator(std::strong_ordering value_vs_threshold, std::string_view comparator, CompareOp op);

// A quantity in an analyte's canonical unit.
struct Normalised {
  Decimal value;           // as written
  std::string comparator;  // as written
  std::string unit;        // after aliases
  Conversion conversion;   // unit -> canonical
  std::string canonical;
  // Converted value, rounded to `digits` decimals, with comparator: ">221.05".
  std::string display(int digits = 4) const;
  // "221 umol/L / 88.42 -> 2.4994 mg/dL" or "" when no conversion; the result to `digits` decimals.
  std::string describe(int digits = 4) const;
  double plotted() const;  // the converted value for charts (display only), the same on every machine
};

// Converts a Quantity for an analyte. On failure `why` names the problem (missing value, unknown unit).
std::optional<Normalised> normalise(const Terminology& t, const Analyte& a, const fhir::Quantity& q,
                                    std::string& why);

struct Titre {
  Decimal denominator;
  std::string comparator;
};
// "1:160", "1/160", "160", ">1:1280", "≥1:160", "1:80 speckled". nullopt when the text is not a titre.
std::optional<Titre> parse_titre(std::string_view text);
// A titre from any Observation value form (string, ratio 1:N, quantity, integer).
std::optional<Titre> titre_of(const fhir::ObservationValue& v, std::string& basis);

enum class Reading { positive, negative, undetermined };
// Positivity: coded/string/boolean results first, then interpretation, then the Observation's own
// referenceRange.high.
Reading positivity(const Terminology& t, const Analyte& a, const fhir::Observation& o, std::string& basis);

enum class Level { low, normal, high, undetermined };
// Below/above the Observation's reference range (or interpretation, or the analyte's default range).
Level level(const Terminology& t, const Analyte& a, const fhir::Observation& o, std::string& basis);

}  // namespace cf::terminology
