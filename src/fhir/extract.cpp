#include "fhir/extract.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "core/text.hpp"
#include "fhir/reference.hpp"

namespace cf::fhir {

namespace {

using json::member;
using json::Value;

// An element path ("referenceRange[0].low"), made into a string only when an issue names it: a hospital's
// export has millions of elements and nearly none has an issue. A path is its parent (none at the top), a
// name and an index; it only points at them, so it lives no longer than the call it is made for.
class Path {
 public:
  Path(std::string_view name, long index = -1) : name_(name), index_(index) {}
  Path(const char* name) : name_(name) {}
  Path(const std::string& name) : name_(name) {}
  Path(const Path& parent, std::string_view name, long index = -1)
      : parent_(&parent), name_(name), index_(index) {}
  // `name` (and `index`) under `base`, or at the top when there is no base.
  static Path under(const Path* base, std::string_view name, long index = -1) {
    return base ? Path(*base, name, index) : Path(name, index);
  }
  std::string str() const {
    std::string out = parent_ ? parent_->str() : std::string();
    if (!out.empty() && !name_.empty()) out += '.';
    out += name_;
    if (index_ >= 0) out += "[" + std::to_string(index_) + "]";
    return out;
  }

 private:
  const Path* parent_ = nullptr;
  std::string_view name_;
  long index_ = -1;
};

// Reads elements of one resource, reporting problems against it.
class Reader {
 public:
  Reader(const Origin& origin, IssueLog& issues, std::string type)
      : origin_(origin), issues_(issues), type_(type) {}

  // The resource's id, which lives as long as the Reader (its "Type/id" key is made only for an issue).
  void set_id(std::string_view id) { id_ = id; }

  void issue(Severity s, std::string kind, const Path& path, std::string message) {
    issues_.add(s, std::move(kind), origin_.location,
                id_.empty() ? std::string() : type_ + "/" + std::string(id_), type_ + "." + path.str(),
                std::move(message));
  }

  std::string str(const Value& obj, std::string_view field, const Path& path) {
    const Value* v = member(obj, field);
    if (!v) return {};
    if (auto s = json::string(v)) return std::string(*s);
    issue(Severity::warning, "wrong-type", path, "expected a string");
    return {};
  }

  std::optional<PartialDate> date(const Value& obj, std::string_view field, const Path& path, DateKind kind,
                                  std::string* text_out = nullptr) {
    const Value* v = member(obj, field);
    if (!v) return std::nullopt;
    auto s = json::string(v);
    if (!s) {
      issue(Severity::warning, "wrong-type", path, "expected a date string");
      return std::nullopt;
    }
    std::string why;
    auto d = parse_fhir_date(*s, kind, &why);
    if (!d) {
      issue(Severity::warning, "invalid-date", path, "'" + sanitize_for_log(*s, 40) + "': " + why);
      return std::nullopt;
    }
    if (text_out) *text_out = std::string(*s);
    return d;
  }

  Coding coding(const Value& v) {
    Coding c;
    c.system = std::string(json::string(member(v, "system")).value_or(""));
    c.code = std::string(json::string(member(v, "code")).value_or(""));
    c.display = std::string(json::string(member(v, "display")).value_or(""));
    return c;
  }

  CodeableConcept concept_of(const Value* v, const Path& path) {
    CodeableConcept cc;
    if (!v) return cc;
    if (!v->IsObject()) {
      issue(Severity::warning, "wrong-type", path, "expected a CodeableConcept object");
      return cc;
    }
    json::for_each(member(*v, "coding"), [&](std::size_t i, const Value& c) {
      if (!c.IsObject()) {
        issue(Severity::warning, "wrong-type", Path(path, "coding", static_cast<long>(i)),
              "expected a Coding");
        return;
      }
      Coding cd = coding(c);
      if (!cd.code.empty() && cd.system.empty())
        issue(Severity::info, "coding-without-system", Path(path, "coding", static_cast<long>(i)),
              "a code without a system is never matched");
      cc.codings.push_back(std::move(cd));
    });
    cc.text = std::string(json::string(member(*v, "text")).value_or(""));
    return cc;
  }

  // A Quantity read into `q`, where it stays (a Quantity is six strings to move). False, and `q` left as it
  // is, when there is none or it is not an object (reported).
  bool quantity(const Value* v, const Path& path, Quantity& q) {
    if (!v) return false;
    if (!v->IsObject()) {
      issue(Severity::warning, "wrong-type", path, "expected a Quantity object");
      return false;
    }
    if (const Value* val = member(*v, "value")) {
      if (auto t = json::number_text(val)) {
        q.value = Decimal::parse(*t);
        q.value_text = std::string(*t);
        if (!q.value) issue(Severity::warning, "invalid-number", Path(path, "value"), "number out of range");
      } else {
        issue(Severity::warning, "wrong-type", Path(path, "value"), "a Quantity value must be a JSON number");
      }
    }
    q.comparator = std::string(json::string(member(*v, "comparator")).value_or(""));
    q.unit = std::string(json::string(member(*v, "unit")).value_or(""));
    q.system = std::string(json::string(member(*v, "system")).value_or(""));
    q.code = std::string(json::string(member(*v, "code")).value_or(""));
    return true;
  }
  // The same into an optional Quantity: empty when there is none.
  void quantity(const Value* v, const Path& path, std::optional<Quantity>& out) {
    if (!quantity(v, path, out.emplace())) out.reset();
  }

  std::string reference(const Value& obj, std::string_view field, const Path& path) {
    const Value* r = member(obj, field);
    if (!r) return {};
    if (!r->IsObject()) {
      issue(Severity::warning, "wrong-type", path, "expected a Reference object");
      return {};
    }
    std::string ref = str(*r, "reference", Path(path, "reference"));
    // {"reference": "123", "type": "Patient"}: not a literal reference (that is "Patient/123"), but what it
    // names is plain; read as such, and said, rather than leave the resource without its patient.
    if (!ref.empty() && ref.find('/') == std::string::npos)
      if (const Value* t = member(*r, "type"); t && t->IsString()) {
        // Type/id as a literal reference would be read (relative_reference checks the type and the id).
        std::string literal = std::string(t->GetString(), t->GetStringLength()) + "/" + ref;
        if (relative_reference(literal) == literal) {
          issue(Severity::info, "bare-id-reference", Path(path, "reference"),
                "reference '" + ref + "' is a bare id: read as " + literal + " from Reference.type");
          ref = std::move(literal);
        }
      }
    return ref;
  }

  // Period start/end or a dateTime, whichever the resource used for `prefix`[x].
  void effective(const Value& obj, std::string_view prefix, std::optional<PartialDate>& start,
                 std::optional<PartialDate>& end, std::string* text) {
    // The element names built in a buffer: this runs for every resource read.
    char buf[64];
    auto name = [&](std::string_view suffix) {
      const std::size_t n = std::min(prefix.size(), sizeof buf - suffix.size());
      std::memcpy(buf, prefix.data(), n);
      std::memcpy(buf + n, suffix.data(), suffix.size());
      return std::string_view(buf, n + suffix.size());
    };
    if (member(obj, name("DateTime"))) {
      start = date(obj, name("DateTime"), name("DateTime"), DateKind::date_time, text);
      end = start;
    } else if (const Value* p = member(obj, name("Period")); is_object_v(p)) {
      start = date(*p, "start", name("Period.start"), DateKind::date_time, text);
      end = date(*p, "end", name("Period.end"), DateKind::date_time);
    } else if (member(obj, name("Instant"))) {
      start = date(obj, name("Instant"), name("Instant"), DateKind::instant, text);
      end = start;
    }
  }

  static bool is_object_v(const Value* v) { return v && v->IsObject(); }

 private:
  const Origin& origin_;
  IssueLog& issues_;
  std::string type_;
  std::string_view id_;
};

bool has_modifier_extension(const Value& v) {
  const Value* m = member(v, "modifierExtension");
  return m && m->IsArray() && !m->Empty();
}

Header read_header(const Value& v, ResourceType type, const Origin& origin, std::string id) {
  Header h;
  h.type = type;
  h.id = std::move(id);
  h.origin = origin;
  if (const Value* meta = member(v, "meta"); meta && meta->IsObject()) {
    h.version_id = std::string(json::string(member(*meta, "versionId")).value_or(""));
    h.last_updated = std::string(json::string(member(*meta, "lastUpdated")).value_or(""));
  }
  h.unknown_modifier = has_modifier_extension(v);
  return h;
}

// `base`: the component the value is in, or none.
ObservationValue read_value(Reader& rd, const Value& obj, const Path* base) {
  ObservationValue out;
  if (const Value* q = member(obj, "valueQuantity")) {
    out.kind = ObservationValue::Kind::quantity;
    out.element = "valueQuantity";
    rd.quantity(q, Path::under(base, "valueQuantity"), out.quantity);
  } else if (const Value* c = member(obj, "valueCodeableConcept")) {
    out.kind = ObservationValue::Kind::codeable;
    out.element = "valueCodeableConcept";
    out.codeable = rd.concept_of(c, Path::under(base, "valueCodeableConcept"));
  } else if (member(obj, "valueString")) {
    out.kind = ObservationValue::Kind::string;
    out.element = "valueString";
    out.text = rd.str(obj, "valueString", Path::under(base, "valueString"));
  } else if (const Value* r = member(obj, "valueRatio")) {
    out.kind = ObservationValue::Kind::ratio;
    out.element = "valueRatio";
    if (r->IsObject()) {
      rd.quantity(member(*r, "numerator"), Path::under(base, "valueRatio.numerator"), out.ratio.numerator);
      rd.quantity(member(*r, "denominator"), Path::under(base, "valueRatio.denominator"),
                  out.ratio.denominator);
    }
  } else if (const Value* i = member(obj, "valueInteger")) {
    out.kind = ObservationValue::Kind::integer;
    out.element = "valueInteger";
    if (auto t = json::number_text(i)) {
      out.quantity.value = Decimal::parse(*t);
      out.quantity.value_text = std::string(*t);
    } else {
      rd.issue(Severity::warning, "wrong-type", Path::under(base, "valueInteger"), "expected an integer");
    }
  } else if (const Value* b = member(obj, "valueBoolean")) {
    out.kind = ObservationValue::Kind::boolean;
    out.element = "valueBoolean";
    out.flag = json::boolean(b).value_or(false);
  } else if (member(obj, "valueRange")) {
    out.kind = ObservationValue::Kind::range;
    out.element = "valueRange";
  } else {
    for (const char* k : {"valueTime", "valueDateTime", "valuePeriod", "valueSampledData"})
      if (member(obj, k)) {
        out.kind = ObservationValue::Kind::other;
        out.element = k;
      }
  }
  return out;
}

// dataAbsentReason, interpretation and referenceRange, of an Observation or of one of its components
// (`p`: none or "component[i]").
void read_reading(Reader& rd, const Value& v, const Path* p, std::string& data_absent_reason,
                  std::vector<Coding>& interpretation, std::vector<ReferenceRange>& reference_ranges) {
  if (const Value* dar = member(v, "dataAbsentReason")) {
    auto cc = rd.concept_of(dar, Path::under(p, "dataAbsentReason"));
    data_absent_reason = cc.codings.empty() ? cc.text : cc.codings.front().code;
    if (data_absent_reason.empty()) data_absent_reason = "unknown";
  }
  json::for_each(member(v, "interpretation"), [&](std::size_t i, const Value& c) {
    auto cc = rd.concept_of(&c, Path::under(p, "interpretation", static_cast<long>(i)));
    for (auto& cd : cc.codings) interpretation.push_back(std::move(cd));
    if (cc.codings.empty() && !cc.text.empty()) interpretation.push_back(Coding{"", "", cc.text});
  });
  json::for_each(member(v, "referenceRange"), [&](std::size_t i, const Value& r) {
    if (!r.IsObject()) return;
    const Path rp = Path::under(p, "referenceRange", static_cast<long>(i));
    ReferenceRange& rr = reference_ranges.emplace_back();  // filled in place: a range is two Quantities
    rd.quantity(member(r, "low"), Path(rp, "low"), rr.low);
    rd.quantity(member(r, "high"), Path(rp, "high"), rr.high);
    rr.text = std::string(json::string(member(r, "text")).value_or(""));
  });
}

void read_observation(Reader& rd, const Value& v, Header h, Observation& o) {
  o.h = std::move(h);
  o.h.subject = rd.reference(v, "subject", "subject");
  o.status = rd.str(v, "status", "status");
  o.code = rd.concept_of(member(v, "code"), "code");
  o.value = read_value(rd, v, nullptr);
  read_reading(rd, v, nullptr, o.data_absent_reason, o.interpretation, o.reference_ranges);
  std::optional<PartialDate> end;
  rd.effective(v, "effective", o.effective, end, &o.effective_text);
  if (!o.effective) {
    // issued is when the result was released: a fallback that is never earlier than the sample.
    o.effective = rd.date(v, "issued", "issued", DateKind::instant, &o.effective_text);
  }
  json::for_each(member(v, "component"), [&](std::size_t i, const Value& c) {
    if (!c.IsObject()) return;
    const Path p("component", static_cast<long>(i));
    ObservationComponent& comp = o.components.emplace_back();
    comp.code = rd.concept_of(member(c, "code"), Path(p, "code"));
    comp.value = read_value(rd, c, &p);
    read_reading(rd, c, &p, comp.data_absent_reason, comp.interpretation, comp.reference_ranges);
  });
}

void read_condition(Reader& rd, const Value& v, Header h, Condition& c) {
  c.h = std::move(h);
  c.h.subject = rd.reference(v, "subject", "subject");
  c.code = rd.concept_of(member(v, "code"), "code");
  auto status_code = [&](const char* field) {
    auto cc = rd.concept_of(member(v, field), field);
    for (const auto& cd : cc.codings)
      if (!cd.code.empty()) return cd.code;
    return std::string();
  };
  c.clinical_status = status_code("clinicalStatus");
  c.verification_status = status_code("verificationStatus");
  std::optional<PartialDate> end;
  if (member(v, "onsetDateTime") || member(v, "onsetPeriod"))
    rd.effective(v, "onset", c.onset, end, &c.onset_text);
  else if (auto text = json::string(member(v, "onsetString")))
    c.onset_text = *text;  // "childhood": no date
  else if (member(v, "onsetAge") || member(v, "onsetRange"))
    c.onset_text = member(v, "onsetAge") ? "onsetAge" : "onsetRange";  // an age: no date without more work
  if (member(v, "abatementDateTime")) {
    c.abatement =
        rd.date(v, "abatementDateTime", "abatementDateTime", DateKind::date_time, &c.abatement_text);
  } else if (const Value* p = member(v, "abatementPeriod"); p && p->IsObject()) {
    c.abatement = member(*p, "start")
                      ? rd.date(*p, "start", "abatementPeriod.start", DateKind::date_time, &c.abatement_text)
                      : rd.date(*p, "end", "abatementPeriod.end", DateKind::date_time, &c.abatement_text);
  } else if (auto b = json::boolean(member(v, "abatementBoolean")); b && *b) {
    c.abatement_text = "true";  // abated at an unknown date
  } else if (auto text = json::string(member(v, "abatementString"))) {
    c.abatement_text = text->empty() ? "abatementString" : *text;  // "resolved in 2001": abated, date unknown
  } else if (member(v, "abatementAge") || member(v, "abatementRange")) {
    c.abatement_text = member(v, "abatementAge") ? "abatementAge" : "abatementRange";
  }
  c.recorded = rd.date(v, "recordedDate", "recordedDate", DateKind::date_time, &c.recorded_text);
}

void read_procedure(Reader& rd, const Value& v, Header h, Procedure& p) {
  p.h = std::move(h);
  p.h.subject = rd.reference(v, "subject", "subject");
  p.status = rd.str(v, "status", "status");
  p.code = rd.concept_of(member(v, "code"), "code");
  rd.effective(v, "performed", p.start, p.end, &p.start_text);
}

Timing read_timing(Reader& rd, const Value* t, const std::string& path) {
  Timing out;
  if (!t || !t->IsObject()) return out;
  if (const Value* code = member(*t, "code")) {
    auto cc = rd.concept_of(code, path + ".code");
    out.code = cc.codings.empty() ? cc.text : cc.codings.front().code;
  }
  const Value* rep = member(*t, "repeat");
  if (!rep || !rep->IsObject()) return out;
  auto num = [&](const char* f) -> std::optional<Decimal> {
    if (auto s = json::number_text(member(*rep, f))) return Decimal::parse(*s);
    return std::nullopt;
  };
  out.frequency = num("frequency");
  out.period = num("period");
  // "1 to 3 times a day", "every 4 to 6 hours": a range of daily doses, not the low end of it.
  const auto freq_max = num("frequencyMax"), period_max = num("periodMax");
  out.varies = (freq_max && (!out.frequency || *freq_max != *out.frequency)) ||
               (period_max && (!out.period || *period_max != *out.period));
  out.period_unit = std::string(json::string(member(*rep, "periodUnit")).value_or(""));
  if (const Value* bp = member(*rep, "boundsPeriod"); bp && bp->IsObject()) {
    out.bounds_start = rd.date(*bp, "start", path + ".repeat.boundsPeriod.start", DateKind::date_time);
    out.bounds_end = rd.date(*bp, "end", path + ".repeat.boundsPeriod.end", DateKind::date_time);
  }
  rd.quantity(member(*rep, "boundsDuration"), path + ".repeat.boundsDuration", out.bounds_duration);
  return out;
}

Dosage read_dosage(Reader& rd, const Value& d, const std::string& path, bool administration) {
  Dosage out;
  out.text = std::string(json::string(member(d, "text")).value_or(""));
  out.route = rd.concept_of(member(d, "route"), path + ".route");
  if (administration) {
    rd.quantity(member(d, "dose"), path + ".dose", out.dose);
    return out;
  }
  if (auto seq = json::number_text(member(d, "sequence"))) {
    // A FHIR integer: up to 10 digits with an optional sign; anything else is no sequence.
    int v = 0;
    const auto* end = seq->data() + seq->size();
    if (auto [p, ec] = std::from_chars(seq->data(), end, v); ec == std::errc() && p == end) out.sequence = v;
  }
  out.as_needed =
      json::boolean(member(d, "asNeededBoolean")).value_or(false) || member(d, "asNeededCodeableConcept");
  out.timing = read_timing(rd, member(d, "timing"), path + ".timing");
  json::for_each(member(d, "doseAndRate"), [&](std::size_t i, const Value& dr) {
    if (out.dose || !dr.IsObject()) return;
    const std::string p = path + ".doseAndRate[" + std::to_string(i) + "]";
    if (const Value* q = member(dr, "doseQuantity")) {
      rd.quantity(q, p + ".doseQuantity", out.dose);
    } else if (const Value* r = member(dr, "doseRange"); r && r->IsObject()) {
      // Both ends are kept: a criterion is decided only if every dose in the range decides it the same way.
      rd.quantity(member(*r, "high"), p + ".doseRange.high", out.dose);
      rd.quantity(member(*r, "low"), p + ".doseRange.low", out.dose_low);
    }
  });
  return out;
}

void read_medication_concept(Reader& rd, const Value& v, MedicationUse& m) {
  if (const Value* cc = member(v, "medicationCodeableConcept")) {
    m.medication = rd.concept_of(cc, "medicationCodeableConcept");
    return;
  }
  m.medication_reference = rd.reference(v, "medicationReference", "medicationReference");
  // "Medication/1/_history/2" or an absolute URL names the Medication read as "Medication/1".
  if (auto rel = relative_reference(m.medication_reference); !rel.empty()) m.medication_reference = rel;
  if (m.medication_reference.empty()) {
    // A reference with only a display names the drug in words: matched by name, as a text-only concept is.
    if (const Value* r = member(v, "medicationReference"); r && r->IsObject())
      m.medication.text = json::string(member(*r, "display")).value_or("");
    return;
  }
  if (!m.medication_reference.empty() && m.medication_reference[0] == '#') {
    const std::string want = m.medication_reference.substr(1);
    json::for_each(member(v, "contained"), [&](std::size_t i, const Value& c) {
      if (json::string(member(c, "resourceType")).value_or("") == "Medication" &&
          json::string(member(c, "id")).value_or("") == want)
        m.medication = rd.concept_of(member(c, "code"), "contained[" + std::to_string(i) + "].code");
    });
  }
}

void read_medication_use(Reader& rd, const Value& v, Header h, MedicationUse& m) {
  m.h = std::move(h);
  m.h.subject = rd.reference(v, "subject", "subject");
  m.status = rd.str(v, "status", "status");
  read_medication_concept(rd, v, m);
  switch (m.h.type) {
    case ResourceType::medication_request: {
      m.intent = rd.str(v, "intent", "intent");
      if (const Value* dnp = member(v, "doNotPerform"); dnp && dnp->IsBool())
        m.do_not_perform = dnp->GetBool();
      m.authored = rd.date(v, "authoredOn", "authoredOn", DateKind::date_time, &m.authored_text);
      if (const Value* dr = member(v, "dispenseRequest"); dr && dr->IsObject())
        if (const Value* vp = member(*dr, "validityPeriod"); vp && vp->IsObject()) {
          m.start = rd.date(*vp, "start", "dispenseRequest.validityPeriod.start", DateKind::date_time,
                            &m.start_text);
          m.end = rd.date(*vp, "end", "dispenseRequest.validityPeriod.end", DateKind::date_time);
        }
      json::for_each(member(v, "dosageInstruction"), [&](std::size_t i, const Value& d) {
        if (d.IsObject())
          m.dosages.push_back(read_dosage(rd, d, "dosageInstruction[" + std::to_string(i) + "]", false));
      });
      break;
    }
    case ResourceType::medication_statement:
      rd.effective(v, "effective", m.start, m.end, &m.start_text);
      // effectiveDateTime says when the use was asserted to be happening, not that it lasted one day: an
      // active statement with one runs on (criteria/medication.hpp), a completed one keeps its own day.
      if (member(v, "effectiveDateTime")) m.end.reset();
      m.authored = rd.date(v, "dateAsserted", "dateAsserted", DateKind::date_time, &m.authored_text);
      json::for_each(member(v, "dosage"), [&](std::size_t i, const Value& d) {
        if (d.IsObject()) m.dosages.push_back(read_dosage(rd, d, "dosage[" + std::to_string(i) + "]", false));
      });
      break;
    case ResourceType::medication_administration:
      rd.effective(v, "effective", m.start, m.end, &m.start_text);
      if (const Value* d = member(v, "dosage"); d && d->IsObject())
        m.dosages.push_back(read_dosage(rd, *d, "dosage", true));
      break;
    default:
      break;
  }
}

void read_patient(Reader& rd, const Value& v, Header h, Patient& p) {
  p.h = std::move(h);
  p.h.patient_id = p.h.id;
  p.birth_date = rd.date(v, "birthDate", "birthDate", DateKind::date, &p.birth_date_text);
  p.gender = rd.str(v, "gender", "gender");
  if (auto b = json::boolean(member(v, "deceasedBoolean"))) p.deceased = *b;
  if (member(v, "deceasedDateTime")) {
    p.deceased = true;
    p.deceased_date = rd.date(v, "deceasedDateTime", "deceasedDateTime", DateKind::date_time);
  }
  if (auto a = json::boolean(member(v, "active"))) p.active = *a;
  // A merged record (Patient.link replaced-by / replaces): the person's data may be split over two ids, which
  // this tool evaluates apart. Said in the data issues so that a coordinator looks at both.
  json::for_each(member(v, "link"), [&](std::size_t i, const Value& l) {
    if (!l.IsObject()) return;
    const std::string type(json::string(member(l, "type")).value_or(""));
    if (type != "replaced-by" && type != "replaces") return;
    const std::string other = rd.reference(l, "other", "link[" + std::to_string(i) + "].other");
    rd.issue(Severity::warning, "patient-merged", "link[" + std::to_string(i) + "]",
             "Patient " + p.h.id + (type == "replaced-by" ? " is replaced by " : " replaces ") +
                 sanitize_for_log(other.empty() ? std::string("another record") : other, 80) +
                 (p.active ? "" : " (active: false)") +
                 ": each id is evaluated on its own data; review both records together");
  });
  json::for_each(member(v, "name"), [&](std::size_t, const Value& n) {
    if (!p.name.empty() || !n.IsObject()) return;
    std::string given;
    json::for_each(member(n, "given"), [&](std::size_t, const Value& g) {
      if (auto s = json::string(&g)) given += (given.empty() ? "" : " ") + std::string(*s);
    });
    std::string family(json::string(member(n, "family")).value_or(""));
    if (family.empty() && given.empty()) family = std::string(json::string(member(n, "text")).value_or(""));
    p.name = family + (given.empty() ? "" : ", " + given);
  });
}

}  // namespace

CodeableConcept extract_codeable_concept(const json::Value& v, std::string_view path, IssueLog& issues) {
  const Origin origin{std::string(path)};
  Reader rd(origin, issues, "");
  return rd.concept_of(&v, std::string(path));
}

bool valid_id(std::string_view id) {
  // A table of the id characters: every resource id and reference is checked, and the chain of range tests
  // this replaces was 3% of the time spent reading.
  static constexpr auto kIdChar = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[c] =
          (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    return t;
  }();
  if (id.empty() || id.size() > 64) return false;
  bool ok = true;
  for (const char c : id) ok &= kIdChar[static_cast<unsigned char>(c)];
  return ok;
}

Extracted extract_resource(const json::Value& v, const Origin& origin, IssueLog& issues,
                           std::string_view fallback_id, std::vector<Resource>* into) {
  Extracted out;
  if (!v.IsObject()) {
    issues.add(Severity::error, "not-a-resource", origin.location, "", "", "expected a JSON object");
    out.rejected = true;
    return out;
  }
  auto rt = json::string(member(v, "resourceType"));
  if (!rt || rt->empty()) {
    issues.add(Severity::error, "missing-resource-type", origin.location, "", "resourceType",
               "resource without a resourceType");
    out.rejected = true;
    return out;
  }
  out.type_name = std::string(*rt);
  const ResourceType type = resource_type_from(*rt);
  if (type == ResourceType::other) return out;  // a type no criterion reads: counted by the caller

  std::string_view id = json::string(member(v, "id")).value_or("");
  if (id.empty()) id = fallback_id;
  Reader rd(origin, issues, out.type_name);
  if (!valid_id(id)) {
    issues.add(Severity::error, id.empty() ? "missing-id" : "invalid-id", origin.location,
               out.type_name + "/?", out.type_name + ".id",
               id.empty() ? "resource without an id"
                          : "id '" + sanitize_for_log(id, 80) + "' breaks the FHIR id rule");
    out.rejected = true;
    return out;
  }
  rd.set_id(id);
  Header h = read_header(v, type, origin, std::string(id));
  if (h.unknown_modifier)
    rd.issue(
        Severity::warning, "unknown-modifier-extension", "modifierExtension",
        "the resource carries a modifierExtension the tool does not understand; it is not used as evidence");
  // Each resource is read where it will stay (`into`, or the result): an Observation is about a kilobyte of
  // strings and vectors to move.
  auto slot = [&]<typename T>() -> T& {
    Resource& r =
        into ? into->emplace_back(std::in_place_type<T>) : out.resource.emplace(std::in_place_type<T>);
    return std::get<T>(r);
  };
  switch (type) {
    case ResourceType::patient:
      read_patient(rd, v, std::move(h), slot.operator()<Patient>());
      break;
    case ResourceType::condition:
      read_condition(rd, v, std::move(h), slot.operator()<Condition>());
      break;
    case ResourceType::observation:
      read_observation(rd, v, std::move(h), slot.operator()<Observation>());
      break;
    case ResourceType::medication_request:
    case ResourceType::medication_statement:
    case ResourceType::medication_administration:
      read_medication_use(rd, v, std::move(h), slot.operator()<MedicationUse>());
      break;
    case ResourceType::procedure:
      read_procedure(rd, v, std::move(h), slot.operator()<Procedure>());
      break;
    case ResourceType::medication: {
      Medication& m = slot.operator()<Medication>();
      m.h = std::move(h);
      m.code = rd.concept_of(member(v, "code"), "code");
      break;
    }
    case ResourceType::other:
      break;
  }
  return out;
}

}  // namespace cf::fhir
