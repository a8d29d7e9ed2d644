#include "core/decimal.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace cf {

namespace {
constexpr int kMaxDigits = 36;

bool mul10(Int128& v, int times) {
  for (int i = 0; i < times; ++i)
    if (__builtin_mul_overflow(v, static_cast<Int128>(10), &v)) return false;
  return true;
}
}  // namespace

std::optional<Decimal> Decimal::parse(std::string_view s) {
  std::size_t p = 0;
  bool neg = false;
  if (p < s.size() && s[p] == '-') {
    neg = true;
    ++p;
  }
  if (p >= s.size() || s[p] < '0' || s[p] > '9') return std::nullopt;
  Int128 m = 0;
  int digits = 0, scale = 0;
  auto take = [&](char c) -> bool {
    if (digits > 0 || c != '0') ++digits;
    if (digits > kMaxDigits) return false;
    m = m * 10 + (c - '0');
    return true;
  };
  while (p < s.size() && s[p] >= '0' && s[p] <= '9')
    if (!take(s[p++])) return std::nullopt;
  if (p < s.size() && s[p] == '.') {
    ++p;
    const std::size_t start = p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (!take(s[p++])) return std::nullopt;
      ++scale;
    }
    if (p == start) return std::nullopt;
  }
  if (p < s.size() && (s[p] == 'e' || s[p] == 'E')) {
    ++p;
    bool eneg = false;
    if (p < s.size() && (s[p] == '+' || s[p] == '-')) eneg = s[p++] == '-';
    const std::size_t start = p;
    int e = 0;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      e = e * 10 + (s[p++] - '0');
      if (e > 400) return std::nullopt;  // 1e400 is not a lab value
    }
    if (p == start) return std::nullopt;
    scale += eneg ? e : -e;
  }
  if (p != s.size()) return std::nullopt;
  return Decimal(neg ? -m : m, scale);
}

std::strong_ordering Decimal::compare(const Decimal& a, const Decimal& b) {
  Int128 x = a.mantissa_, y = b.mantissa_;
  bool ok = true;
  if (a.scale_ < b.scale_)
    ok = mul10(x, b.scale_ - a.scale_);
  else if (b.scale_ < a.scale_)
    ok = mul10(y, a.scale_ - b.scale_);
  if (!ok) {
    long double lx = a.to_long_double(), ly = b.to_long_double();
    return lx < ly   ? std::strong_ordering::less
           : lx > ly ? std::strong_ordering::greater
                     : std::strong_ordering::equal;
  }
  return x < y   ? std::strong_ordering::less
         : x > y ? std::strong_ordering::greater
                 : std::strong_ordering::equal;
}

std::optional<Decimal> Decimal::times(const Decimal& o) const {
  Int128 r;
  if (__builtin_mul_overflow(mantissa_, o.mantissa_, &r)) return std::nullopt;
  return Decimal(r, scale_ + o.scale_);
}

std::optional<Decimal> Decimal::plus(const Decimal& o) const {
  Int128 x = mantissa_, y = o.mantissa_;
  int s = scale_;
  if (scale_ < o.scale_) {
    if (!mul10(x, o.scale_ - scale_)) return std::nullopt;
    s = o.scale_;
  } else if (o.scale_ < scale_) {
    if (!mul10(y, scale_ - o.scale_)) return std::nullopt;
  }
  Int128 r;
  if (__builtin_add_overflow(x, y, &r)) return std::nullopt;
  return Decimal(r, s);
}

long double Decimal::to_long_double() const {
  return static_cast<long double>(mantissa_) * std::pow(10.0L, static_cast<long double>(-scale_));
}

double Decimal::to_double() const {
  const std::string text = to_string();
  double v = 0;  // out of a double's range: left 0 (no chart could show it)
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

std::string Decimal::to_string() const {
  Int128 m = mantissa_ < 0 ? -mantissa_ : mantissa_;
  char rev[48];
  int n = 0;
  do {
    rev[n++] = static_cast<char>('0' + static_cast<int>(m % 10));
    m /= 10;
  } while (m != 0);
  // Appends only (GCC 12 reports a false -Wrestrict on std::string::insert at -O3).
  std::string out;
  if (mantissa_ < 0) out += '-';
  if (scale_ <= 0) {
    for (int i = n - 1; i >= 0; --i) out += rev[i];
    out.append(static_cast<std::size_t>(-scale_), '0');
    return out;
  }
  if (n <= scale_) {
    out += "0.";
    out.append(static_cast<std::size_t>(scale_ - n), '0');
    for (int i = n - 1; i >= 0; --i) out += rev[i];
    return out;
  }
  for (int i = n - 1; i >= 0; --i) {
    out += rev[i];
    if (i == scale_) out += '.';
  }
  return out;
}

std::optional<Decimal> Decimal::divided(const Decimal& divisor, int digits) const {
  if (divisor.mantissa_ == 0 || digits < 0) return std::nullopt;
  // this / divisor = (m1 / m2) x 10^(s2 - s1): the result times 10^digits is num / den.
  Int128 num = mantissa_, den = divisor.mantissa_;
  const int e = divisor.scale_ - scale_ + digits;
  if (e >= 0 ? !mul10(num, e) : !mul10(den, -e)) return std::nullopt;
  if (den < 0) {
    num = -num;
    den = -den;
  }
  Int128 q = num / den;
  Int128 r = num % den;  // same sign as num
  if (r < 0) r = -r;
  // Half to even, without forming 2r (which could overflow).
  if (r > den - r || (r == den - r && q % 2 != 0)) q += num < 0 ? -1 : 1;
  return Decimal(q, digits);
}

std::optional<std::string> Decimal::divided_text(const Decimal& divisor, int digits) const {
  auto q = divided(divisor, digits);
  if (!q) return std::nullopt;
  std::string s = q->to_string();
  if (digits > 0) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string Decimal::rounded_text(int digits) const {
  if (auto s = divided_text(from_int(1), digits)) return *s;
  return format(to_long_double(), digits);
}

std::string Decimal::format(long double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*Lf", digits, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

}  // namespace cf
