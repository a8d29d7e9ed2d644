// Leaves that read the record: age, coded conditions/procedures, observations.
#include <algorithm>

#include "criteria/evidence.hpp"
#include "criteria/nodes.hpp"
#include "criteria/result_order.hpp"

namespace cf::criteria {

namespace {

using terminology::Reading;

class Age : public Node {
 public:
  Age(int lo, int hi) : lo_(lo), hi_(hi) {}
  NodeResult eval(Context& ctx) const override {
    const auto& p = ctx.rec.patient;
    if (!p) return NodeResult::unknown("no Patient resource for this id");
    Evidence e = evidence_from(p->h);
    e.original = p->birth_date_text;
    e.date = p->birth_date_text;
    if (!p->birth_date) {
      e.note = "no usable birthDate";
      return NodeResult::unknown("birth date unknown", {e});
    }
    const int oldest = completed_years(p->birth_date->first, ctx.as_of);
    const int youngest = completed_years(p->birth_date->last, ctx.as_of);
    const std::string range = "[" + std::to_string(lo_) + ", " + std::to_string(hi_) + "]";
    std::string age =
        oldest == youngest ? std::to_string(oldest) : std::to_string(youngest) + "-" + std::to_string(oldest);
    e.normalised = age + " years on " + format_day(ctx.as_of);
    if (youngest >= lo_ && oldest <= hi_) {
      e.note = "within " + range;
      return NodeResult::met("age " + age, {e});
    }
    if (oldest < lo_ || youngest > hi_) {
      e.note = "outside " + range;
      return NodeResult::not_met("age " + age + ", outside " + range, {e});
    }
    e.note = "partial birth date straddles a limit of " + range;
    return NodeResult::unknown("age " + age + " (partial birth date)", {e});
  }

 private:
  int lo_, hi_;
};

bool active_status(const fhir::Condition& c) {
  const auto& s = c.clinical_status;
  if (s.empty()) return !c.abatement && c.abatement_text.empty();
  return s == "active" || s == "recurrence" || s == "relapse";
}

// Is the condition present during the window? (docs/trial-definition.md, "Conditions in a window")
Tri condition_presence(const fhir::Condition& c, const Window& w, Days as_of, bool active_only,
                       std::string& how) {
  const bool active = active_status(c);
  if (active_only && !active) {
    how = "clinicalStatus " + (c.clinical_status.empty() ? std::string("(abated)") : c.clinical_status);
    return Tri::not_met;
  }
  const auto& when = c.onset ? c.onset : c.recorded;
  if (when) {
    Placement p = place(*when, w, as_of);
    if (p == Placement::after) {
      how = "dated after the as-of date";
      return Tri::not_met;
    }
    // Without an onset, the recordedDate only says the condition had begun by then: one that abated before
    // the window did not reach it, however late it was written down.
    if (!c.onset && c.abatement && place(*c.abatement, w, as_of) == Placement::before) {
      how = "abated before the window (recorded later)";
      return Tri::not_met;
    }
    // Recorded in the window without a dated onset, and no longer active (a past history entry: "epilepsy as
    // a child", "breast cancer, in remission"): the record does not show it present in the window.
    if (!c.onset && !active && p == Placement::inside && w.unit != Window::Unit::ever &&
        !(c.abatement && place(*c.abatement, w, as_of) == Placement::inside)) {
      how = "recorded in the window as " +
            (c.clinical_status.empty() ? std::string("abated") : c.clinical_status) +
            (c.onset_text.empty() ? std::string(", onset not given") : ", onset '" + c.onset_text + "'") +
            ": whether it was present in the window is not known";
      return Tri::unknown;
    }
    if (p == Placement::inside) {
      how = w.unit == Window::Unit::ever ? "recorded"
            : c.onset                    ? "onset in the window"
                                         : "recorded in the window";
      return Tri::met;
    }
    if (active && p == Placement::before) {
      // An old diagnosis without a clinicalStatus (an encounter diagnosis, often) may or may not still be
      // there: missing data, so unknown, not "ongoing".
      if (c.clinical_status.empty()) {
        how = "began before the window; clinicalStatus absent, so whether it is ongoing is not known";
        return Tri::unknown;
      }
      how = "ongoing (clinicalStatus " + c.clinical_status + ")";
      return Tri::met;
    }
    if (c.abatement && place(*c.abatement, w, as_of) == Placement::inside) {
      how = "abated inside the window";
      return Tri::met;
    }
    if (p == Placement::straddles) {
      how = "partial date straddles the window";
      return Tri::unknown;
    }
    // Began before the window and is no longer active, but the record does not say when it ended: it may
    // have lasted into the window (most resolved conditions carry no abatement date). Only a version of the
    // record that already said so before the window began (meta.lastUpdated) shows it ended before then.
    if (!c.abatement && w.unit != Window::Unit::ever) {
      const std::string status = c.clinical_status.empty() ? std::string("abated") : c.clinical_status;
      if (auto updated = parse_fhir_date(c.h.last_updated, DateKind::instant);
          updated && place(*updated, w, as_of) == Placement::before) {
        how = "before the window; recorded as " + status + " by " + format_day(updated->last) +
              ", before the window";
        return Tri::not_met;
      }
      how = "began before the window; " + status + " with no abatement date" +
            (c.abatement_text.empty() ? std::string() : " ('" + c.abatement_text + "')") +
            ", so whether it lasted into the window is not known";
      return Tri::unknown;
    }
    how = "before the window and not ongoing";
    return Tri::not_met;
  }
  if (w.unit == Window::Unit::ever) {
    how = "undated, recorded";
    return Tri::met;
  }
  if (active && !c.clinical_status.empty()) {
    how = "undated, clinicalStatus " + c.clinical_status;
    return Tri::met;
  }
  // No date and no clinicalStatus (an encounter diagnosis, a problem list entry from long ago): whether it is
  // there in the window is not known.
  how = active ? "undated and without clinicalStatus" : "undated and not active";
  return Tri::unknown;
}

Tri procedure_presence(const fhir::Procedure& p, const Window& w, Days as_of, std::string& how) {
  if (!p.start) {
    how = "undated";
    return w.unit == Window::Unit::ever ? Tri::met : Tri::unknown;
  }
  Placement s = place(*p.start, w, as_of);
  if (s == Placement::after) {
    how = "after the as-of date";
    return Tri::not_met;
  }
  if (s == Placement::inside) {
    how = "performed in the window";
    return Tri::met;
  }
  if (p.end && place(*p.end, w, as_of) != Placement::before) {
    how = "performed period reaches into the window";
    return Tri::met;
  }
  if (s == Placement::straddles) {
    how = "partial date straddles the window";
    return Tri::unknown;
  }
  how = "performed before the window";
  return Tri::not_met;
}

class Record : public Node {
 public:
  Record(RecordTypes t, std::string c, Window w, bool active_only, Tri absent)
      : types_(t), concept_(std::move(c)), w_(w), active_only_(active_only), absent_(absent) {}

  NodeResult eval(Context& ctx) const override {
    std::vector<Evidence> hits, doubts;
    std::string hit_reason, doubt_reason;
    if (types_ != RecordTypes::procedure) {
      for (const auto& f : ctx.rec.conditions) {
        if (f.match.con->id != concept_) continue;
        const auto& c = *f.cond;
        if (c.verification_status == "refuted" || c.verification_status == "entered-in-error") continue;
        std::string how;
        Tri t = condition_presence(c, w_, ctx.as_of, active_only_, how);
        if (t == Tri::not_met) continue;
        if (c.h.unknown_modifier) {  // RELIABILITY D4: decides nothing, but is not absent either
          how += "; carries a modifierExtension this tool does not understand";
          t = Tri::unknown;
        }
        Evidence e = evidence_from(c.h);
        set_match(e, f.match);
        e.date = day_or_text(c.onset ? c.onset : c.recorded, c.onset ? c.onset_text : c.recorded_text);
        e.original = (c.clinical_status.empty() ? "" : c.clinical_status + " ") +
                     (c.verification_status.empty() ? "" : c.verification_status);
        e.note = how;
        // A diagnosis recorded as a possibility (unconfirmed, provisional, differential) decides nothing
        // alone: a differential diagnosis of cancer must not exclude, nor a provisional SLE include, without
        // a human.
        const bool tentative = c.verification_status == "unconfirmed" ||
                               c.verification_status == "provisional" ||
                               c.verification_status == "differential";
        std::string why = "Condition " + concept_ + " " + how;
        if (tentative && t == Tri::met) {
          why += " (verificationStatus " + c.verification_status + ": confirm)";
          t = Tri::unknown;
        }
        add(t, f.match.low_confidence, std::move(e), why, hits, doubts, hit_reason, doubt_reason);
      }
    }
    if (types_ != RecordTypes::condition) {
      for (const auto& f : ctx.rec.procedures) {
        if (f.match.con->id != concept_) continue;
        const auto& p = *f.proc;
        // `preparation`: planned, not begun; a transplant being prepared is not one that happened.
        if (p.status == "entered-in-error" || p.status == "not-done" || p.status == "preparation") continue;
        std::string how;
        Tri t = procedure_presence(p, w_, ctx.as_of, how);
        if (t == Tri::not_met) continue;
        if (p.h.unknown_modifier) {
          how += "; carries a modifierExtension this tool does not understand";
          t = Tri::unknown;
        }
        Evidence e = evidence_from(p.h);
        set_match(e, f.match);
        e.date = p.start_text;
        e.original = p.status;
        e.note = how;
        add(t, f.match.low_confidence, std::move(e), "Procedure " + concept_ + " " + how, hits, doubts,
            hit_reason, doubt_reason);
      }
    }
    if (!hits.empty()) return NodeResult::met(hit_reason, std::move(hits));
    if (!doubts.empty()) return NodeResult::unknown(doubt_reason, std::move(doubts));
    const bool incomplete = (types_ != RecordTypes::procedure && ctx.type_incomplete("Condition")) ||
                            (types_ != RecordTypes::condition && ctx.type_incomplete("Procedure"));
    const std::string none = "no " + concept_ + " record (" + w_.describe() + ")";
    if (incomplete) return NodeResult::unknown(none + ", but the source data are incomplete");
    return absent_ == Tri::not_met ? NodeResult::not_met(none) : NodeResult::unknown(none);
  }

 private:
  static void add(Tri t, bool low, Evidence e, const std::string& why, std::vector<Evidence>& hits,
                  std::vector<Evidence>& doubts, std::string& hit_reason, std::string& doubt_reason) {
    if (t == Tri::met && !low) {
      if (hit_reason.empty()) hit_reason = why;
      hits.push_back(std::move(e));
    } else {
      if (doubt_reason.empty()) doubt_reason = why + (low ? " (low-confidence code: confirm)" : "");
      doubts.push_back(std::move(e));
    }
  }

  RecordTypes types_;
  std::string concept_;
  Window w_;
  bool active_only_;
  Tri absent_;
};

std::string test_text(const ObservationTest& t) {
  struct V {
    std::string operator()(const CompareTest& c) const {
      return std::string(terminology::to_string(c.op)) + " " + c.threshold.to_string() + " " + c.unit;
    }
    std::string operator()(const TitreTest& c) const { return "titre >= 1:" + c.min.to_string(); }
    std::string operator()(const ReadingTest& c) const { return c.positive ? "positive" : "negative"; }
    std::string operator()(const LevelTest& c) const { return c.low ? "low" : "high"; }
  };
  return std::visit(V{}, t);
}

// The outcome of `test` on `o`, with what it found written to `e` (normalised value, conversion, note);
// `describe` false leaves the normalised value and conversion of a comparison unwritten (same outcome).
Tri apply_test(const ObservationTest& test, const fhir::Observation& o, const terminology::Analyte& a,
               const terminology::Terminology& terms, Evidence& e, bool describe = true) {
  using terminology::Reading;
  if (const auto* c = std::get_if<CompareTest>(&test)) {
    std::string why;
    auto n = terminology::normalise(terms, a, o.value.quantity, why);
    if (o.value.kind != fhir::ObservationValue::Kind::quantity &&
        o.value.kind != fhir::ObservationValue::Kind::integer)
      why = o.value.kind == fhir::ObservationValue::Kind::none ? "no value" : "value is not a quantity";
    if (!n || !why.empty()) {
      e.note = "unusable: " + (why.empty() ? std::string("no value") : why);
      return Tri::unknown;
    }
    Tri t = terminology::test_with_comparator(
        terminology::compare_converted(n->value, n->conversion, c->threshold, c->conversion), n->comparator,
        c->op);
    if (!describe) return t;
    // A value rounded onto the threshold ("221.052 umol/L -> 2.5 mg/dL", "> 2.5: met") would contradict the
    // outcome beside it: then it is shown with more decimals (2.50002).
    int digits = 4;
    if (auto d = Decimal::parse(n->display().substr(n->comparator.size()));
        d && c->conversion.identity() && *d == c->threshold &&
        terminology::compare_converted(n->value, n->conversion, c->threshold, c->conversion) != 0)
      digits = 8;
    e.normalised = n->display(digits) + " " + n->canonical;
    e.conversion = n->describe(digits);
    e.note = test_text(test) + ": " + terminology::to_string(t);
    return t;
  }
  if (const auto* c = std::get_if<TitreTest>(&test)) {
    std::string basis;
    if (auto tt = terminology::titre_of(o.value, basis)) {
      e.normalised = "titre " + tt->comparator + "1:" + tt->denominator.to_string();
      Tri t = terminology::test_with_comparator(tt->denominator <=> c->min, tt->comparator,
                                                terminology::CompareOp::ge);
      e.note = test_text(test) + ": " + terminology::to_string(t);
      return t;
    }
    Reading r = terminology::positivity(terms, a, o, basis);
    if (r == Reading::negative) {
      e.note = "negative (" + basis + ")";
      return Tri::not_met;
    }
    e.note = "unusable: no titre in the value" +
             (r == Reading::positive ? std::string(" (reported positive)") : "");
    return Tri::unknown;
  }
  if (const auto* c = std::get_if<ReadingTest>(&test)) {
    std::string basis;
    Reading r = terminology::positivity(terms, a, o, basis);
    if (r == Reading::undetermined) {
      e.note = "unusable: " + basis;
      return Tri::unknown;
    }
    e.normalised = r == Reading::positive ? "positive" : "negative";
    e.note = e.normalised + " by " + basis;
    return (r == Reading::positive) == c->positive ? Tri::met : Tri::not_met;
  }
  const auto& lt = std::get<LevelTest>(test);
  std::string basis;
  auto lv = terminology::level(terms, a, o, basis);
  if (lv == terminology::Level::undetermined) {
    e.note = "unusable: " + basis;
    return Tri::unknown;
  }
  e.normalised = lv == terminology::Level::low ? "low" : lv == terminology::Level::high ? "high" : "normal";
  e.note = e.normalised + " (" + basis + ")";
  return (lt.low ? lv == terminology::Level::low : lv == terminology::Level::high) ? Tri::met : Tri::not_met;
}

class ObservationLeaf : public Node {
 public:
  ObservationLeaf(std::string c, Window w, bool latest, ObservationTest t, Tri absent,
                  bool preliminary_decides)
      : concept_(std::move(c)),
        w_(w),
        latest_(latest),
        preliminary_decides_(preliminary_decides),
        test_(std::move(t)),
        absent_(absent),
        // The same for every patient: written once, not once per patient and leaf.
        window_text_(w_.describe()),
        test_text_(test_text(test_)),
        none_("no " + concept_ + " result (" + window_text_ + ")") {}

  NodeResult eval(Context& ctx) const override {
    struct Cand {
      const terminology::ObservationFact* f;
      Days day;
    };
    std::vector<Cand> cands;
    std::vector<Cand> straddling;  // partial or missing dates: may or may not fall in the window
    std::vector<Evidence> undated;
    struct Modified {
      Evidence e;
      Days day;
    };
    std::vector<Modified> modified;  // results with a modifierExtension not understood
    for (const auto& f : ctx.rec.observations) {
      if (f.match.con->id != concept_) continue;
      const auto& o = *f.obs;
      if (o.status == "entered-in-error" || o.status == "cancelled") continue;
      if (o.h.unknown_modifier) {
        // A modifierExtension may change what the result means (RELIABILITY D4): it decides nothing, but a
        // result that may be in the window is not absent either.
        const Placement p = o.effective ? place(*o.effective, w_, ctx.as_of) : Placement::straddles;
        if (p == Placement::inside || p == Placement::straddles || w_.unit == Window::Unit::ever) {
          Evidence e = evidence_from(o.h);
          set_match(e, f.match);
          e.original = describe_value(o.value);
          e.date = o.effective_text;
          e.note = "carries a modifierExtension this tool does not understand: cannot be used";
          modified.push_back(
              {std::move(e), o.effective ? o.effective->last : std::numeric_limits<Days>::max()});
        }
        continue;
      }
      if (!o.effective) {
        if (w_.unit == Window::Unit::ever) {
          // In the window, certainly; the latest only if nothing dated is (placed last), but it may be newer
          // than every dated one, so it is also weighed as a result that may be the latest.
          cands.push_back({&f, std::numeric_limits<Days>::min()});
          straddling.push_back({&f, std::numeric_limits<Days>::max()});
        } else {
          straddling.push_back({&f, std::numeric_limits<Days>::max()});  // may be the newest of all
          Evidence e = evidence_from(o.h);
          set_match(e, f.match);
          e.original = describe_value(o.value);
          e.note = "no effective date: cannot place it in the window";
          undated.push_back(std::move(e));
        }
        continue;
      }
      Placement p = place(*o.effective, w_, ctx.as_of);
      if (p == Placement::inside) {
        cands.push_back({&f, o.effective->last});
      } else if (p == Placement::straddles) {
        straddling.push_back({&f, o.effective->last});
        Evidence e = evidence_from(o.h);
        set_match(e, f.match);
        e.original = describe_value(o.value);
        e.date = o.effective_text;
        e.note = "partial date straddles the window";
        undated.push_back(std::move(e));
      }
    }
    const bool incomplete = ctx.type_incomplete("Observation");
    if (cands.empty())
      for (auto& m : modified) undated.push_back(m.e);
    if (cands.empty()) {
      if (!undated.empty())
        return NodeResult::unknown("no dated " + concept_ + " result in the window", undated);
      if (incomplete) return NodeResult::unknown(none_ + ", but the source data are incomplete");
      return absent_ == Tri::not_met ? NodeResult::not_met(none_) : NodeResult::unknown(none_);
    }
    std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
      if (a.day != b.day) return a.day > b.day;  // "ever" windows place undated results last
      return newer_result(*a.f->obs, *b.f->obs);
    });
    auto judge = [&](const Cand& c, Evidence& e) {
      const auto& o = *c.f->obs;
      e = evidence_from(o.h);
      set_match(e, c.f->match);
      e.original = describe_value(o.value);
      e.date = o.effective_text;
      Tri t = apply_test(test_, o, *ctx.terms.analyte(c.f->match.con->analyte), ctx.terms, e);
      if (c.f->match.low_confidence && t != Tri::unknown) {
        e.note += " (low-confidence code: confirm)";
        t = Tri::unknown;
      }
      if (!preliminary_decides_ && (o.status == "preliminary" || o.status == "registered") &&
          t != Tri::unknown) {
        e.note += " (status " + o.status + ": not final)";
        t = Tri::unknown;
      }
      return t;
    };
    if (latest_) {
      Evidence e;
      Tri t = judge(cands.front(), e);
      std::string r =
          "latest " + concept_ + " " + e.original + (e.date.empty() ? "" : " on " + e.date) + ": " + e.note;
      e.note = "latest in the window; " + e.note;
      for (const auto& m : modified)
        if (m.day >= cands.front().day)
          return NodeResult::unknown(
              r + "; a result as new or newer carries a modifierExtension not understood", {e, m.e});
      // A result with a partial date ("2026-11") or none that may be newer than the latest placed one, and
      // may be in the window, decides too: if it could read otherwise, the older value does not stand in for
      // it.
      for (const auto& c : straddling) {
        if (c.day <= cands.front().day) continue;
        Evidence se;
        if (judge(c, se) == t) continue;
        se.note = (se.date.empty() ? "no date" : "partial date") +
                  std::string(": may be the latest result in the window; ") + se.note;
        return NodeResult::unknown(r + "; a result " +
                                       (se.date.empty() ? "without a date" : "dated " + se.date) +
                                       " may be newer and reads otherwise",
                                   {e, se});
      }
      if (t == Tri::met) return NodeResult::met(r, {e});
      if (incomplete) return NodeResult::unknown(r + "; source data incomplete", {e});
      if (t == Tri::not_met) return NodeResult::not_met(r, {e});
      return NodeResult::unknown(r, {e});
    }
    // The reasons need only counts and the first unknown result's note; the evidence of results that are not
    // met is built only when the caller keeps it (ctx.met_evidence_only: score items).
    std::vector<Evidence> yes, no, maybe;
    std::size_t n_no = 0, n_maybe = 0;
    std::string first_maybe_note;
    Evidence outcome_only;  // reused: only the outcome of these results is wanted
    for (const auto& c : cands) {
      if (ctx.met_evidence_only) {
        Tri t = apply_test(test_, *c.f->obs, *ctx.terms.analyte(c.f->match.con->analyte), ctx.terms,
                           outcome_only, false);
        if (c.f->match.low_confidence && t != Tri::unknown) t = Tri::unknown;
        if (t == Tri::not_met) {
          ++n_no;
          continue;
        }
        if (t == Tri::unknown && n_maybe > 0) {
          ++n_maybe;
          continue;
        }
      }
      Evidence e;
      const Tri t = judge(c, e);
      if (t == Tri::met) {
        yes.push_back(std::move(e));
        continue;
      }
      if (t == Tri::unknown && n_maybe++ == 0) first_maybe_note = e.note;
      if (t == Tri::not_met) ++n_no;
      if (!ctx.met_evidence_only) (t == Tri::not_met ? no : maybe).push_back(std::move(e));
    }
    if (!yes.empty()) {
      std::string why =
          concept_ + " " + yes.front().original + " on " + yes.front().date + ": " + yes.front().note;
      return NodeResult::met(std::move(why), std::move(yes));
    }
    for (auto& m : modified) undated.push_back(std::move(m.e));
    if (n_maybe == 0 && !undated.empty()) first_maybe_note = undated.front().note;
    n_maybe += undated.size();
    for (auto& e : undated) maybe.push_back(std::move(e));
    if (n_maybe) {
      std::string why =
          std::to_string(n_maybe) + " " + concept_ + " result(s) cannot be judged: " + first_maybe_note;
      return NodeResult::unknown(std::move(why), std::move(maybe));
    }
    if (incomplete)
      return NodeResult::unknown(
          "no " + concept_ + " " + test_text_ + " found, but the source data are incomplete", std::move(no));
    std::string why = "none of " + std::to_string(n_no) + " " + concept_ + " result(s) " + test_text_ + " (" +
                      window_text_ + ")";
    return NodeResult::not_met(std::move(why), std::move(no));
  }

 private:
  std::string concept_;
  Window w_;
  bool latest_;
  bool preliminary_decides_;
  ObservationTest test_;
  Tri absent_;
  std::string window_text_, test_text_, none_;
};

}  // namespace

NodePtr make_age(int lo, int hi) {
  return std::make_shared<Age>(lo, hi);
}
NodePtr make_record(RecordTypes t, std::string c, Window w, bool active_only, Tri absent) {
  return std::make_shared<Record>(t, std::move(c), w, active_only, absent);
}
NodePtr make_observation(std::string c, Window w, bool latest, ObservationTest t, Tri absent,
                         bool preliminary_decides) {
  return std::make_shared<ObservationLeaf>(std::move(c), w, latest, std::move(t), absent,
                                           preliminary_decides);
}

}  // namespace cf::criteria
