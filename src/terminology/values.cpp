#include "terminology/values.hpp"

#include <cctype>

#include "core/text.hpp"

namespace cf::terminology {

namespace {

// (v + add) x multiply / divide in long double: for what exact decimals cannot hold (beyond 38 digits).
long double approx(const Decimal& v, const Conversion& c) {
  return (v.to_long_double() + c.add.to_long_double()) * c.multiply.to_long_double() /
         c.divide.to_long_double();
}

// (v + add) x multiply exactly, to be divided by `divide` (Decimal::divided); nullopt beyond 38 digits.
std::optional<Decimal> dividend(const Decimal& v, const Conversion& c) {
  auto x = v.plus(c.add);
  if (x) x = x->times(c.multiply);
  return x;
}

}  // namespace

const char* to_string(Tri t) {
  switch (t) {
    case Tri::met:
      return "met";
    case Tri::not_met:
      return "not_met";
    case Tri::unknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<CompareOp> parse_op(std::string_view s) {
  if (s == "<") return CompareOp::lt;
  if (s == "<=") return CompareOp::le;
  if (s == ">") return CompareOp::gt;
  if (s == ">=") return CompareOp::ge;
  if (s == "=") return CompareOp::eq;
  return std::nullopt;
}

const char* to_string(CompareOp op) {
  switch (op) {
    case CompareOp::lt:
      return "<";
    case CompareOp::le:
      return "<=";
    case CompareOp::gt:
      return ">";
    case CompareOp::ge:
      return ">=";
    case CompareOp::eq:
      return "=";
  }
  return "?";
}

std::strong_ordering compare_converted(const Decimal& v, const Conversion& vc, const Decimal& t,
                                       const Conversion& tc) {
  // (v + a_v) * m_v / d_v  <=>  (t + a_t) * m_t / d_t, with positive divisors: cross-multiply.
  auto lhs = v.plus(vc.add);
  auto rhs = t.plus(tc.add);
  if (lhs) lhs = lhs->times(vc.multiply);
  if (lhs) lhs = lhs->times(tc.divide);
  if (rhs) rhs = rhs->times(tc.multiply);
  if (rhs) rhs = rhs->times(vc.divide);
  if (lhs && rhs) return *lhs <=> *rhs;
  const long double a = approx(v, vc), b = approx(t, tc);
  return a < b   ? std::strong_ordering::less
         : a > b ? std::strong_ordering::greater
                 : std::strong_ordering::equal;
}

Tri test_with_comparator(std::strong_ordering c, std::string_view comparator, CompareOp op) {
  const bool lt = c<0, eq = c == 0, gt = c> 0;
  auto yes_no = [](bool b) { return b ? Tri::met : Tri::not_met; };
  if (comparator.empty()) {
    switch (op) {
      case CompareOp::lt:
        return yes_no(lt);
      case CompareOp::le:
        return yes_no(lt || eq);
      case CompareOp::gt:
        return yes_no(gt);
      case CompareOp::ge:
        return yes_no(gt || eq);
      case CompareOp::eq:
        return yes_no(eq);
    }
  }
  if (op == CompareOp::eq) return Tri::unknown;
  const bool above = comparator == ">" || comparator == ">=";  // value interval extends upwards
  const bool below = comparator == "<" || comparator == "<=";
  const bool closed = comparator == ">=" || comparator == "<=";
  if (!above && !below) return Tri::unknown;  // "ad" or garbage
  const bool test_up = op == CompareOp::gt || op == CompareOp::ge;
  if (above == test_up) {
    // Interval and test point the same way: all of the interval passes if its end is on the right side.
    if (test_up) {
      const bool strict_test = op == CompareOp::gt;
      bool all = closed ? (strict_test ? gt : (gt || eq)) : (gt || eq);
      return all ? Tri::met : Tri::unknown;
    }
    const bool strict_test = op == CompareOp::lt;
    bool all = closed ? (strict_test ? lt : (lt || eq)) : (lt || eq);
    return all ? Tri::met : Tri::unknown;
  }
  // Opposite directions: none of the interval passes if its end is beyond the threshold.
  if (test_up) {  // value below something, test "greater"
    const bool strict_test = op == CompareOp::gt;
    bool none = closed ? (strict_test ? (lt || eq) : lt) : (lt || eq);
    return none ? Tri::not_met : Tri::unknown;
  }
  const bool strict_test = op == CompareOp::lt;
  bool none = closed ? (strict_test ? (gt || eq) : gt) : (gt || eq);
  return none ? Tri::not_met : Tri::unknown;
}

std::string Normalised::display(int digits) const {
  if (conversion.identity()) return comparator + value.to_string();
  const auto x = dividend(value, conversion);
  const auto text = x ? x->divided_text(conversion.divide, digits) : std::nullopt;
  return comparator + (text ? *text : Decimal::format(approx(value, conversion), digits));
}

double Normalised::plotted() const {
  const auto x = dividend(value, conversion);
  const auto q = x ? x->divided(conversion.divide, 12) : std::nullopt;
  return q ? q->to_double() : static_cast<double>(approx(value, conversion));
}

std::string Normalised::describe(int digits) const {
  if (conversion.identity()) return {};
  std::string s = value.to_string() + " " + unit;
  if (!conversion.add.is_zero()) s = "(" + s + " + " + conversion.add.to_string() + ")";
  if (!(conversion.multiply == Decimal::from_int(1))) s += " x " + conversion.multiply.to_string();
  if (!(conversion.divide == Decimal::from_int(1))) s += " / " + conversion.divide.to_string();
  return s + " = " + display(digits) + " " + canonical;
}

std::optional<Normalised> normalise(const Terminology& t, const Analyte& a, const fhir::Quantity& q,
                                    std::string& why) {
  if (!q.value) {
    why = "no numeric value";
    return std::nullopt;
  }
  std::string unit = t.unit_of(q);
  auto it = a.units.find(unit);
  if (it == a.units.end()) {
    why = unit.empty() ? "no unit given"
                       : "unit '" + sanitize_for_log(unit, 40) + "' cannot be converted to " + a.canonical;
    return std::nullopt;
  }
  Normalised n;
  n.value = *q.value;
  n.comparator = q.comparator;
  n.unit = unit;
  n.conversion = it->second;
  n.canonical = a.canonical;
  return n;
}

std::optional<Titre> parse_titre(std::string_view text) {
  std::string_view s = trim(text);
  Titre out;
  struct Prefix {
    const char* text;
    const char* comparator;
  };
  static const Prefix kPrefixes[] = {
      {"\xE2\x89\xA5", ">="}, {"\xE2\x89\xA4", "<="}, {">=", ">="}, {"<=", "<="}, {">", ">"}, {"<", "<"}};
  for (const auto& p : kPrefixes) {
    std::string_view pt(p.text);
    if (s.substr(0, pt.size()) == pt) {
      out.comparator = p.comparator;
      s = trim(s.substr(pt.size()));
      break;
    }
  }
  auto read_int = [](std::string_view& in) -> std::string {
    std::size_t n = 0;
    while (n < in.size() && in[n] >= '0' && in[n] <= '9') ++n;
    std::string d(in.substr(0, n));
    in.remove_prefix(n);
    // Thousands grouping ("1:1,280"): a comma followed by exactly three digits continues the number.
    while (!d.empty() && d.size() <= 3 + 4 * 3 && in.size() >= 4 && in[0] == ',' && in[1] >= '0' &&
           in[1] <= '9' && in[2] >= '0' && in[2] <= '9' && in[3] >= '0' && in[3] <= '9' &&
           (in.size() == 4 || in[4] < '0' || in[4] > '9')) {
      d.append(in.substr(1, 3));
      in.remove_prefix(4);
    }
    return d;
  };
  // The separators labs write between 1 and the dilution: ':' and '/', their full-width forms (Chinese lab
  // systems), the ratio sign, and the words "in" ("1 in 320").
  auto separator = [](std::string_view in) -> std::size_t {
    static const std::string_view kSeparators[] = {":", "/", "\xEF\xBC\x9A", "\xEF\xBC\x8F", "\xE2\x88\xB6"};
    for (auto sep : kSeparators)
      if (in.substr(0, sep.size()) == sep) return sep.size();
    if (in.size() > 3 && (in[0] == 'i' || in[0] == 'I') && (in[1] == 'n' || in[1] == 'N') && in[2] == ' ')
      return 3;
    return 0;
  };
  std::string first = read_int(s);
  if (first.empty()) return std::nullopt;
  std::string_view rest = trim(s);
  std::string denom = first;
  if (std::size_t sep = separator(rest)) {
    if (first != "1") return std::nullopt;
    rest = trim(rest.substr(sep));
    denom = read_int(rest);
    if (denom.empty()) return std::nullopt;
  }
  // What may follow is a pattern description ("speckled", "颗粒型"), never another number, unit arithmetic or
  // a separator this reader does not know: "1" followed by an unknown separator and "320" is not a titre
  // of 1.
  for (char c : rest)
    if ((c >= '0' && c <= '9') || c == ':' || c == '/') return std::nullopt;
  if (!rest.empty() && (rest[0] == '.' || rest[0] == ',')) return std::nullopt;
  auto d = Decimal::parse(denom);
  if (!d || d->is_zero()) return std::nullopt;
  out.denominator = *d;
  return out;
}

namespace {
bool titre_unit(std::string_view u) {
  std::string l;
  for (char c : u) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return l.empty() || l == "1" || l == "{titer}" || l == "{titre}" || l == "titer" || l == "titre" ||
         l == "{dilution}" || l == "{ratio}" || l == "ratio";
}
}  // namespace

std::optional<Titre> titre_of(const fhir::ObservationValue& v, std::string& basis) {
  using K = fhir::ObservationValue::Kind;
  switch (v.kind) {
    case K::string:
      basis = "valueString '" + sanitize_for_log(v.text, 40) + "'";
      return parse_titre(v.text);
    case K::ratio:
      if (v.ratio.numerator && v.ratio.denominator && v.ratio.numerator->value &&
          v.ratio.denominator->value && *v.ratio.numerator->value == Decimal::from_int(1)) {
        basis = "valueRatio 1:" + v.ratio.denominator->value->to_string();
        return Titre{*v.ratio.denominator->value, v.ratio.denominator->comparator};
      }
      return std::nullopt;
    case K::quantity:
    case K::integer:
      // A number is a dilution only without a unit or with a titre's: 1.2 AI or 45 U/mL on a code mapped to
      // the ANA titre is an immunoassay result, not 1:1.2 or 1:45.
      if (const std::string& u = v.quantity.code.empty() ? v.quantity.unit : v.quantity.code;
          v.kind == K::quantity && !titre_unit(u)) {
        basis = std::string(v.element) + " in '" + sanitize_for_log(u, 20) + "', not a titre";
        return std::nullopt;
      }
      if (v.quantity.value && !v.quantity.value->negative() && !v.quantity.value->is_zero()) {
        basis = std::string(v.element) + " " + v.quantity.comparator + v.quantity.value->to_string();
        return Titre{*v.quantity.value, v.quantity.comparator};
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

namespace {

// A result written in words, read by whole words: "None detected", "Non reactive", "Not present" and
// "Undetected" are negative (a substring match read them as positive, and "pos" in "not possible" as
// positive too). A negation counts for the next few words of its clause. Words pointing both ways ("HBsAg
// not detected, anti-HBs positive", "not negative") read as undetermined.
Reading word_reading(std::string_view text) {
  const std::string t = to_lower_ascii(trim(text));
  if (t.empty()) return Reading::undetermined;
  static constexpr std::string_view kPositive[] = {"positive", "pos", "detected", "reactive", "present"};
  static constexpr std::string_view kNegative[] = {"negative",    "neg",        "undetected",
                                                   "nonreactive", "unreactive", "absent"};
  static constexpr std::string_view kNegation[] = {"not", "no", "non", "none", "never", "without"};
  auto in = [](std::string_view w, const auto& list) {
    for (auto x : list)
      if (w == x) return true;
    return false;
  };
  int plain_pos = 0, negated_pos = 0, plain_neg = 0, negated_neg = 0;
  int negation_reach = 0;  // words left that a negation applies to
  std::size_t i = 0;
  while (i < t.size()) {
    const auto c = static_cast<unsigned char>(t[i]);
    if (!std::isalnum(c)) {
      if (c == ',' || c == ';' || c == '.' || c == '/' || c == '(' || c == ')') negation_reach = 0;
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < t.size() && std::isalnum(static_cast<unsigned char>(t[j]))) ++j;
    const std::string_view w = std::string_view(t).substr(i, j - i);
    i = j;
    if (in(w, kNegation)) {
      negation_reach = 3;
      continue;
    }
    const bool negated = negation_reach > 0;
    if (negation_reach > 0) --negation_reach;
    if (in(w, kPositive)) ++(negated ? negated_pos : plain_pos);
    if (in(w, kNegative)) ++(negated ? negated_neg : plain_neg);
  }
  // Chinese results have no spaces between words.
  if (t.find("阳性") != std::string::npos) ++plain_pos;
  if (t.find("阴性") != std::string::npos) ++plain_neg;
  const bool says_negative = plain_neg > 0 || negated_pos > 0;
  if (negated_neg > 0 || (plain_pos > 0 && says_negative)) return Reading::undetermined;
  if (plain_pos > 0) return Reading::positive;
  if (says_negative) return Reading::negative;
  return Reading::undetermined;
}

Reading coded_reading(const fhir::CodeableConcept& cc) {
  for (const auto& c : cc.codings) {
    if (c.system == "http://snomed.info/sct") {
      if (c.code == "10828004" || c.code == "260373001" || c.code == "52101004" || c.code == "11214006")
        return Reading::positive;
      if (c.code == "260385009" || c.code == "260415000" || c.code == "2667000" || c.code == "131194007")
        return Reading::negative;
    }
    if (c.system == "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation") {
      if (c.code == "POS" || c.code == "DET") return Reading::positive;
      if (c.code == "NEG" || c.code == "ND") return Reading::negative;
    }
  }
  Reading r = word_reading(cc.text);
  for (const auto& c : cc.codings)
    if (r == Reading::undetermined) r = word_reading(c.display);
  return r;
}

Reading interpretation_reading(const std::vector<fhir::Coding>& codes, std::string& basis) {
  for (const auto& c : codes) {
    const std::string& k = c.code;
    if (k == "POS" || k == "H" || k == "HH" || k == "A" || k == "AA" || k == "DET" || k == "HU") {
      basis = "interpretation " + k;
      return Reading::positive;
    }
    if (k == "NEG" || k == "N" || k == "ND" || k == "L" || k == "LL") {
      basis = "interpretation " + k;
      return Reading::negative;
    }
    if (k.empty()) {
      Reading r = word_reading(c.display);
      if (r != Reading::undetermined) {
        basis = "interpretation text '" + sanitize_for_log(c.display, 30) + "'";
        return r;
      }
    }
  }
  return Reading::undetermined;
}

// Compares the value with a range bound that may carry its own unit (raw comparison when units are equal).
std::optional<std::strong_ordering> versus_bound(const Terminology& t, const fhir::Quantity& value,
                                                 const fhir::Quantity& bound) {
  if (!value.value || !bound.value) return std::nullopt;
  std::string vu = t.unit_of(value), bu = t.unit_of(bound);
  if (!bu.empty() && !vu.empty() && bu != vu) return std::nullopt;
  return *value.value <=> *bound.value;
}

}  // namespace

Reading positivity(const Terminology& t, const Analyte& a, const fhir::Observation& o, std::string& basis) {
  using K = fhir::ObservationValue::Kind;
  const auto& v = o.value;
  if (v.kind == K::codeable) {
    Reading r = coded_reading(v.codeable);
    if (r != Reading::undetermined) {
      basis = "coded result";
      return r;
    }
  }
  if (v.kind == K::boolean) {
    basis = std::string("valueBoolean ") + (v.flag ? "true" : "false");
    return v.flag ? Reading::positive : Reading::negative;
  }
  if (v.kind == K::string) {
    if (a.interpretation == "titre") {
      if (auto tt = parse_titre(v.text)) {
        basis = "titre " + tt->comparator + "1:" + tt->denominator.to_string();
        Tri at_least_80 =
            test_with_comparator(tt->denominator <=> Decimal::from_int(80), tt->comparator, CompareOp::ge);
        return at_least_80 == Tri::met       ? Reading::positive
               : at_least_80 == Tri::not_met ? Reading::negative
                                             : Reading::undetermined;
      }
    }
    Reading r = word_reading(v.text);
    if (r != Reading::undetermined) {
      basis = "valueString '" + sanitize_for_log(v.text, 40) + "'";
      return r;
    }
  }
  Reading r = interpretation_reading(o.interpretation, basis);
  if (r != Reading::undetermined) return r;
  // The lab said it cannot tell (indeterminate, equivocal, insufficient evidence): its reference range must
  // not overrule that.
  for (const auto& c : o.interpretation)
    if (c.code == "IND" || c.code == "E" || c.code == "IE" || c.code == "EQV") {
      basis = "interpretation " + c.code + " (the lab could not tell)";
      return Reading::undetermined;
    }
  if (v.kind == K::quantity || v.kind == K::integer) {
    for (const auto& rr : o.reference_ranges) {
      if (!rr.high) continue;
      auto c = versus_bound(t, v.quantity, *rr.high);
      if (!c) continue;
      Tri above = test_with_comparator(*c, v.quantity.comparator, CompareOp::gt);
      if (above == Tri::unknown) continue;
      basis = "value " + v.quantity.comparator + v.quantity.value->to_string() +
              (above == Tri::met ? " > " : " <= ") + "referenceRange.high " + rr.high->value->to_string();
      return above == Tri::met ? Reading::positive : Reading::negative;
    }
  }
  basis = "no interpretation, coded result or reference range to decide positivity";
  return Reading::undetermined;
}

Level level(const Terminology& t, const Analyte& a, const fhir::Observation& o, std::string& basis) {
  for (const auto& c : o.interpretation) {
    if (c.code == "L" || c.code == "LL" || c.code == "LU") {
      basis = "interpretation " + c.code;
      return Level::low;
    }
    if (c.code == "H" || c.code == "HH" || c.code == "HU") {
      basis = "interpretation " + c.code;
      return Level::high;
    }
    if (c.code == "N") {
      basis = "interpretation N";
      return Level::normal;
    }
  }
  const auto& q = o.value.quantity;
  using K = fhir::ObservationValue::Kind;
  if ((o.value.kind != K::quantity && o.value.kind != K::integer) || !q.value) {
    basis = "no numeric value";
    return Level::undetermined;
  }
  // Each range read alone; several ranges (one per sex or age band, appliesTo) decide only when they agree,
  // as the one that applies to this patient is not known here. A range gives "within" only with both bounds
  // compared: one with a high bound only cannot say a value is not low.
  std::optional<Level> decided;
  std::string decided_basis;
  bool disagree = false;
  for (const auto& rr : o.reference_ranges) {
    std::optional<Level> here;
    std::string why;
    // A bound in a unit the value cannot be compared with (C3 in g/L, its range in mg/dL) decides nothing.
    bool low_checked = false, high_checked = false;
    if (rr.low)
      if (auto c = versus_bound(t, q, *rr.low)) {
        Tri below = test_with_comparator(*c, q.comparator, CompareOp::lt);
        if (below == Tri::met) {
          here = Level::low;
          why = "value below referenceRange.low " + rr.low->value->to_string();
        }
        low_checked = below == Tri::not_met;
      }
    if (!here && rr.high)
      if (auto c = versus_bound(t, q, *rr.high)) {
        Tri above = test_with_comparator(*c, q.comparator, CompareOp::gt);
        if (above == Tri::met) {
          here = Level::high;
          why = "value above referenceRange.high " + rr.high->value->to_string();
        }
        high_checked = above == Tri::not_met;
      }
    if (!here && low_checked && high_checked) {
      here = Level::normal;
      why = "value within referenceRange";
    }
    if (!here) continue;
    if (decided && *decided != *here) disagree = true;
    if (!decided) {
      decided = here;
      decided_basis = why;
    }
  }
  if (decided && !disagree) {
    basis = decided_basis;
    return *decided;
  }
  const std::string no_range = disagree                     ? " (the reference ranges disagree)"
                               : o.reference_ranges.empty() ? " (no referenceRange)"
                                                            : " (no usable referenceRange)";
  if (a.default_low || a.default_high) {
    std::string why;
    auto n = normalise(t, a, q, why);
    if (!n) {
      basis = why;
      return Level::undetermined;
    }
    Conversion canon;  // thresholds are in the canonical unit
    const Tri below = a.default_low ? test_with_comparator(
                                          compare_converted(n->value, n->conversion, *a.default_low, canon),
                                          n->comparator, CompareOp::lt)
                                    : Tri::not_met;
    if (below == Tri::met) {
      basis = "below the default range " + a.default_low->to_string() + " " + a.canonical + no_range;
      return Level::low;
    }
    const Tri above = a.default_high ? test_with_comparator(
                                           compare_converted(n->value, n->conversion, *a.default_high, canon),
                                           n->comparator, CompareOp::gt)
                                     : Tri::not_met;
    if (above == Tri::met) {
      basis = "above the default range " + a.default_high->to_string() + " " + a.canonical + no_range;
      return Level::high;
    }
    // "<100" against a low limit of 90 may be either side of it: not "within".
    if (below != Tri::not_met || above != Tri::not_met) {
      basis = "a result with comparator '" + n->comparator + "' may lie on either side of the default range" +
              no_range;
      return Level::undetermined;
    }
    basis = "within the default range" + no_range;
    return Level::normal;
  }
  basis = "no reference range";
  return Level::undetermined;
}

}  // namespace cf::terminology
