#include "criteria/result_order.hpp"

#include "core/date.hpp"

namespace cf::criteria {

bool newer_result(const fhir::Observation& a, const fhir::Observation& b) {
  const Days da = a.effective ? a.effective->last : 0, db = b.effective ? b.effective->last : 0;
  if (da != db) return da > db;
  if (a.effective && b.effective && a.effective->has_time && b.effective->has_time) {
    auto ta = parse_instant_key(a.effective_text), tb = parse_instant_key(b.effective_text);
    if (ta && tb && *ta != *tb) return *ta > *tb;
  }
  if (a.h.last_updated != b.h.last_updated) {
    auto ka = parse_instant_key(a.h.last_updated), kb = parse_instant_key(b.h.last_updated);
    if (ka && kb) {
      if (*ka != *kb) return *ka > *kb;
    } else {
      return a.h.last_updated > b.h.last_updated;
    }
  }
  return a.h.id > b.h.id;
}

}  // namespace cf::criteria
