#include "criteria/evidence.hpp"

#include "core/text.hpp"

namespace cf::criteria {

Evidence evidence_from(const fhir::Header& h) {
  Evidence e;
  e.resource = h.key();
  e.version_id = h.version_id;
  e.last_updated = h.last_updated;
  e.location = h.origin.location;
  return e;
}

void set_match(Evidence& e, const terminology::Match& m) {
  e.concept_id = m.con ? m.con->id : "";
  e.coding = m.code.empty() ? "text '" + sanitize_for_log(m.display, 60) + "'"
                            : m.system + "|" + m.code + (m.display.empty() ? "" : " " + m.display);
  e.rule = m.rule;
  e.low_confidence = m.low_confidence;
}

void set_match(Evidence& e, const terminology::MedicationMatch& m) {
  e.concept_id = m.ingredient ? m.ingredient->id : "";
  e.coding = m.code.empty() ? "text '" + sanitize_for_log(m.display, 60) + "'"
                            : m.system + "|" + m.code + (m.display.empty() ? "" : " " + m.display);
  e.rule = m.rule;
  e.low_confidence = m.low_confidence;
}

std::string describe_value(const fhir::ObservationValue& v) {
  using K = fhir::ObservationValue::Kind;
  switch (v.kind) {
    case K::quantity: {
      const auto& q = v.quantity;
      std::string unit = q.unit.empty() ? q.code : q.unit;
      return q.comparator + (q.value_text.empty() ? "?" : q.value_text) + (unit.empty() ? "" : " " + unit);
    }
    case K::integer:
      return v.quantity.value_text;
    case K::string:
      return sanitize_for_log(v.text, 80);
    case K::codeable: {
      for (const auto& c : v.codeable.codings)
        return (c.display.empty() ? c.code : c.display) + " (" + c.system + "|" + c.code + ")";
      return sanitize_for_log(v.codeable.text, 80);
    }
    case K::ratio: {
      std::string n = v.ratio.numerator && v.ratio.numerator->value ? v.ratio.numerator->value_text : "?";
      std::string d =
          v.ratio.denominator && v.ratio.denominator->value ? v.ratio.denominator->value_text : "?";
      return n + ":" + d;
    }
    case K::boolean:
      return v.flag ? "true" : "false";
    case K::range:
      return "(range)";
    case K::other:
      return "(" + v.element + ")";
    case K::none:
      return "(no value)";
  }
  return {};
}

std::string day_or_text(const std::optional<PartialDate>& d, const std::string& text) {
  if (!text.empty()) return text;
  return d ? format_day(d->first) : "";
}

}  // namespace cf::criteria
