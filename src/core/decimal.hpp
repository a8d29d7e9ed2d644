#pragma once
// Exact decimals for FHIR values (STYLE.md practice 6): "2.50" mg/dL compares equal to 2.5,
// and 6.4999999999999999 is below 6.5. A value is mantissa × 10^-scale with a 128-bit mantissa; FHIR decimals
// have at most 18 significant digits in practice, and up to 36 are accepted.
#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace cf {

__extension__ typedef __int128 Int128;  // GCC/Clang builtin; exact mantissas up to 38 digits

class Decimal {
 public:
  Decimal() = default;
  static Decimal from_int(long long v) { return Decimal(v, 0); }
  // Parses JSON/FHIR number text: -?digits(.digits)?([eE][+-]?digits)?. nullopt on anything else.
  static std::optional<Decimal> parse(std::string_view text);

  // Exact comparison; falls back to long double only when an operand has more than ~36 digits after
  // alignment.
  friend std::strong_ordering operator<=>(const Decimal& a, const Decimal& b) { return compare(a, b); }
  friend bool operator==(const Decimal& a, const Decimal& b) { return compare(a, b) == 0; }

  // Exact product; nullopt on overflow (callers then compare approximately and say so).
  std::optional<Decimal> times(const Decimal& other) const;
  std::optional<Decimal> plus(const Decimal& other) const;
  Decimal negated() const { return Decimal(-mantissa_, scale_); }

  bool is_zero() const { return mantissa_ == 0; }
  bool negative() const { return mantissa_ < 0; }
  long double to_long_double() const;
  // The nearest double (correctly rounded from the exact text, so the same on every machine).
  double to_double() const;
  // The exact text, keeping the scale as written ("2.50").
  std::string to_string() const;
  // Rounded to at most `digits` decimals, trailing zeros removed (for display of converted values).
  static std::string format(long double v, int digits = 4);
  // this / divisor, rounded half to even to `digits` decimals, computed exactly (the same on every machine);
  // nullopt for a zero divisor or beyond 38 digits.
  std::optional<Decimal> divided(const Decimal& divisor, int digits) const;
  // The same as text the way format() writes it: trailing zeros removed, never "-0".
  std::optional<std::string> divided_text(const Decimal& divisor, int digits) const;
  // This value rounded half to even to at most `digits` decimals, as format() writes it, computed exactly
  // (format() of the long double only beyond 38 digits).
  std::string rounded_text(int digits) const;

  // The exact representation, for writing a value to a scratch file and reading it back unchanged.
  Int128 mantissa() const { return mantissa_; }
  int scale() const { return scale_; }
  static Decimal from_parts(Int128 mantissa, int scale) { return Decimal(mantissa, scale); }

 private:
  Decimal(Int128 m, int s) : mantissa_(m), scale_(s) {}
  static std::strong_ordering compare(const Decimal& a, const Decimal& b);

  Int128 mantissa_ = 0;
  int scale_ = 0;  // number of digits after the decimal point; negative for large exponents
};

}  // namespace cf
