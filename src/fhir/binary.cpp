#include "fhir/binary.hpp"

#include <cstring>
#include <type_traits>

namespace cf::fhir {

namespace {

__extension__ typedef unsigned __int128 UInt128;  // as Decimal's Int128 (core/decimal.hpp)

// Each struct lists its fields once, in fields(); the writer and the reader walk the same list, so they
// cannot disagree. A field added to model.hpp and not here is caught by tests/source (round trip of every
// corpus resource compared with operator==).
class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  template <class... T>
  void operator()(T&... v) {
    (put(v), ...);
  }

 private:
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  void put(const std::string& s) {
    put_size(s.size());
    out_.append(s);
  }
  void put(bool b) { out_.push_back(b ? '\1' : '\0'); }
  void put(std::int32_t v) { varint(zigzag(v)); }
  void put(const Decimal& d) {
    const Int128 m = d.mantissa();
    // Zigzag on 128 bits: small mantissas of either sign take a byte or two, not sixteen.
    const auto u = static_cast<UInt128>(m);
    varint((u << 1) ^ static_cast<UInt128>(m >> 127));
    put(static_cast<std::int32_t>(d.scale()));
  }
  template <class E>
  requires std::is_enum_v<E>
  void put(E e) { put(static_cast<std::int32_t>(e)); }
  template <class T>
  void put(const std::optional<T>& o) {
    put(o.has_value());
    if (o) put(*o);
  }
  template <class T>
  void put(const std::vector<T>& v) {
    put_size(v.size());
    for (const auto& x : v) put(x);
  }
  template <class T>
  requires std::is_class_v<T>
  void put(const T& x) {
    fields(*this, const_cast<T&>(x));  // fields() takes non-const references for the reader's sake
  }
  void put_size(std::size_t n) { varint(static_cast<std::uint32_t>(n)); }
  static std::uint32_t zigzag(std::int32_t v) {
    return (static_cast<std::uint32_t>(v) << 1) ^ static_cast<std::uint32_t>(v >> 31);
  }
  // LEB128: 7 bits a byte, low bits first. Most sizes and enums fit in one byte, and most strings of a
  // resource are empty, so fixed 4-byte sizes made up much of what a run spills.
  template <class U>
  void varint(U v) {
    char buf[20];
    std::size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    raw(buf, n);
  }
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class... T>
  void operator()(T&... v) {
    (get(v), ...);
  }
  bool ok() const { return ok_; }
  std::string_view rest() const { return in_; }

 private:
  bool raw(void* p, std::size_t n) {
    if (!ok_ || in_.size() < n) return ok_ = false;
    std::memcpy(p, in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  void get(std::string& s) {
    const std::size_t n = get_size();
    if (!ok_ || in_.size() < n) {
      ok_ = false;
      return;
    }
    s.assign(in_.data(), n);
    in_.remove_prefix(n);
  }
  void get(bool& b) {
    char c = 0;
    raw(&c, 1);
    b = c != 0;
  }
  void get(std::int32_t& v) {
    const auto u = varint<std::uint32_t>();
    v = static_cast<std::int32_t>((u >> 1) ^ (~(u & 1) + 1));
  }
  void get(Decimal& d) {
    const auto u = varint<UInt128>();
    const auto m = static_cast<Int128>((u >> 1) ^ (~(u & 1) + 1));
    std::int32_t s = 0;
    get(s);
    d = Decimal::from_parts(m, s);
  }
  template <class E>
  requires std::is_enum_v<E>
  void get(E& e) {
    std::int32_t v = 0;
    get(v);
    e = static_cast<E>(v);
  }
  template <class T>
  void get(std::optional<T>& o) {
    bool has = false;
    get(has);
    if (!has) {
      o.reset();
      return;
    }
    o.emplace();
    get(*o);
  }
  template <class T>
  void get(std::vector<T>& v) {
    const std::size_t n = get_size();
    if (!ok_ || n > in_.size()) {  // every element takes at least a byte
      ok_ = false;
      return;
    }
    v.assign(n, T{});
    for (auto& x : v) get(x);
  }
  template <class T>
  requires std::is_class_v<T>
  void get(T& x) { fields(*this, x); }
  std::size_t get_size() { return varint<std::uint32_t>(); }
  // A varint longer than its type can hold is corrupt input (the spill is the tool's own, but a truncated
  // or damaged scratch file must fail the read, not shift bits out of range).
  template <class U>
  U varint() {
    U v = 0;
    for (unsigned shift = 0; ok_; shift += 7) {
      if (in_.empty() || shift >= sizeof(U) * 8) {
        ok_ = false;
        break;
      }
      const auto b = static_cast<unsigned char>(in_.front());
      in_.remove_prefix(1);
      v |= static_cast<U>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

template <class A>
void fields(A& a, PartialDate& d) {
  a(d.first, d.last, d.precision, d.has_time);
}
template <class A>
void fields(A& a, Coding& c) {
  a(c.system, c.code, c.display);
}
template <class A>
void fields(A& a, CodeableConcept& c) {
  a(c.codings, c.text);
}
template <class A>
void fields(A& a, Quantity& q) {
  a(q.value, q.value_text, q.comparator, q.unit, q.system, q.code);
}
template <class A>
void fields(A& a, Ratio& r) {
  a(r.numerator, r.denominator);
}
template <class A>
void fields(A& a, Origin& o) {
  a(o.location);
}
template <class A>
void fields(A& a, Header& h) {
  // Header::raw is left out: a kept resource's JSON is not needed once it has been extracted.
  a(h.type, h.id, h.version_id, h.last_updated, h.origin, h.subject, h.patient_id, h.unknown_modifier);
}
template <class A>
void fields(A& a, Patient& p) {
  a(p.h, p.birth_date, p.birth_date_text, p.deceased, p.deceased_date, p.gender, p.name, p.active);
}
template <class A>
void fields(A& a, Condition& c) {
  a(c.h, c.code, c.clinical_status, c.verification_status, c.onset, c.abatement, c.recorded, c.onset_text,
    c.abatement_text, c.recorded_text);
}
template <class A>
void fields(A& a, ReferenceRange& r) {
  a(r.low, r.high, r.text);
}
template <class A>
void fields(A& a, ObservationValue& v) {
  a(v.kind, v.quantity, v.codeable, v.text, v.ratio, v.flag, v.element);
}
template <class A>
void fields(A& a, ObservationComponent& c) {
  a(c.code, c.value, c.data_absent_reason, c.interpretation, c.reference_ranges);
}
template <class A>
void fields(A& a, Observation& o) {
  a(o.h, o.status, o.code, o.value, o.data_absent_reason, o.effective, o.effective_text, o.interpretation,
    o.reference_ranges, o.components);
}
template <class A>
void fields(A& a, Timing& t) {
  a(t.frequency, t.period, t.period_unit, t.code, t.varies, t.bounds_start, t.bounds_end, t.bounds_duration);
}
template <class A>
void fields(A& a, Dosage& d) {
  a(d.text, d.route, d.dose, d.dose_low, d.sequence, d.timing, d.as_needed);
}
template <class A>
void fields(A& a, MedicationUse& m) {
  a(m.h, m.status, m.intent, m.do_not_perform, m.medication, m.medication_reference, m.authored, m.start,
    m.end, m.authored_text, m.start_text, m.dosages);
}
template <class A>
void fields(A& a, Procedure& p) {
  a(p.h, p.status, p.code, p.start, p.end, p.start_text);
}
template <class A>
void fields(A& a, Medication& m) {
  a(m.h, m.code);
}

template <std::size_t I = 0>
bool emplace_alternative(Resource& r, std::size_t index) {
  if constexpr (I < std::variant_size_v<Resource>) {
    if (index == I) {
      r.emplace<I>();
      return true;
    }
    return emplace_alternative<I + 1>(r, index);
  } else {
    return false;
  }
}

}  // namespace

void encode(const Resource& r, std::string& out) {
  Writer w(out);
  auto index = static_cast<std::int32_t>(r.index());
  w(index);
  std::visit([&](const auto& x) { w(x); }, r);
}

bool decode_into(std::string_view& in, Resource& r) {
  Reader rd(in);
  std::int32_t index = -1;
  rd(index);
  if (!rd.ok() || index < 0 || !emplace_alternative(r, static_cast<std::size_t>(index))) return false;
  std::visit([&](auto& x) { rd(x); }, r);
  if (!rd.ok()) return false;
  in = rd.rest();
  return true;
}

std::optional<Resource> decode(std::string_view& in) {
  Resource r;
  if (!decode_into(in, r)) return std::nullopt;
  return r;
}

}  // namespace cf::fhir
