#include "report/html_report.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "core/date.hpp"
#include "terminology/terminology.hpp"

namespace cf::report {

namespace {

using criteria::Outcome;
using ranking::PatientOutcome;
using ranking::Tier;

std::string esc(std::string_view s) {
  return escape_html(s);
}

std::string base64(std::string_view bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? k[v & 63] : '=';
  }
  return out;
}

std::string csp_hash(std::string_view text) {
  return "'sha256-" + base64(sha256_digest(text)) + "'";
}

// The page's only style sheet and script. Both are hashed into the Content-Security-Policy, so nothing else
// runs.
constexpr const char* kStyle = R"CSS(
:root{--ink:#1f2937;--muted:#4b5563;--line:#d1d5db;--soft:#f8fafc;--blue:#0072B2;--verm:#D55E00;--orange:#E69F00}
*{box-sizing:border-box}
body{margin:0;color:var(--ink);background:#fff;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",
"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",Arial,sans-serif}
header.top{background:#0b3954;color:#fff;padding:14px 28px}
header.top h1{margin:0 0 2px;font-size:20px;font-weight:650}
header.top .sub{opacity:.9;font-size:13px}
.mode{display:inline-block;margin-left:8px;padding:1px 9px;border-radius:10px;background:#fff;color:#0b3954;
font-size:12px;font-weight:700;vertical-align:middle}
main{max-width:1320px;margin:0 auto;padding:8px 28px 48px}
h2{font-size:17px;margin:30px 0 10px;padding-bottom:4px;border-bottom:2px solid #e5e7eb}
h3{font-size:14px;margin:16px 0 6px}
.banner{margin:18px 0 0;padding:10px 16px;border:1px solid var(--orange);border-left:8px solid var(--orange);
background:#fff8e6;border-radius:4px}
.banner h2{border:0;margin:0 0 4px;padding:0;font-size:15px}
.banner p{margin:4px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:8px 0 14px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 12px;background:var(--soft)}
.card .n{display:block;font-size:26px;font-weight:700;line-height:1.2}
.card.eligible{border-top:4px solid var(--blue)}.card.possible{border-top:4px solid var(--orange)}
.card.ineligible{border-top:4px solid var(--verm)}
.cols{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:24px}
dl.meta{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:3px 16px;margin:0}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}
th,td{padding:5px 8px;text-align:left;vertical-align:top;border-bottom:1px solid #e5e7eb}
thead th{background:#eef2f6;font-weight:600;position:sticky;top:0;z-index:1}
th button{font:inherit;color:inherit;background:none;border:0;padding:0;cursor:pointer;text-decoration:underline dotted}
th[aria-sort=ascending] button::after{content:" \25B2"}th[aria-sort=descending] button::after{content:" \25BC"}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.small td,table.small th{font-size:12.5px;padding:3px 8px}
#cand tbody tr:hover{background:#f5f8fb}
.tier{display:inline-block;padding:0 8px;border-radius:10px;border:1px solid;font-size:12px;font-weight:650;
white-space:nowrap}
.tier.eligible{background:#e6f0f8;color:#00497a;border-color:var(--blue)}
.tier.possible{background:#fdf3dc;color:#6b4a00;border-color:var(--orange)}
.tier.ineligible{background:#fbe9df;color:#8a3a00;border-color:var(--verm)}
ul.cn{margin:0;padding-left:16px;font-size:12.5px}
td.kv{font-size:12px;line-height:1.4}.kv div{display:grid;grid-template-columns:repeat(2,max-content max-content max-content);
gap:0 6px}.kv div .muted{margin-right:10px;font-size:11px}td.pt{white-space:nowrap}
.muted{color:var(--muted)}.small{font-size:12px}
.chip{display:inline-block;font-size:11px;font-weight:600;padding:0 6px;border-radius:8px;border:1px solid #a0527f;
color:#7a2e5b;background:#f9eef4;white-space:nowrap}
.controls{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-end;margin:8px 0 10px;padding:8px 12px;
background:var(--soft);border:1px solid var(--line);border-radius:6px}
.controls label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:2px}
.controls select,.controls input{font:inherit;padding:3px 6px;border:1px solid #9ca3af;border-radius:4px;min-width:170px}
details.patient{border:1px solid var(--line);border-radius:6px;margin:8px 0;background:#fff}
details.patient>summary{padding:8px 12px;cursor:pointer;background:var(--soft);border-radius:6px}
details.patient[open]>summary{border-bottom:1px solid var(--line);border-radius:6px 6px 0 0}
details.patient>summary .pid{font-weight:700}
.pbody{padding:6px 16px 16px}
table.grid td.oc{white-space:nowrap;font-weight:650;border-left:5px solid transparent}
tr.favour td.oc{background:#e6f0f8;border-left-color:var(--blue)}
tr.against td.oc{background:#fbe9df;border-left-color:var(--verm)}
tr.undecided td.oc{background:#fdf3dc;border-left-color:var(--orange)}
tr.review td.oc{background:#f1f2f4;border-left-color:#9ca3af}
td.oc .sym{display:inline-block;width:1.3em}td.oc .why{display:block;font-weight:400;font-size:11.5px;color:var(--muted)}
tr.sep td{border-top:2px solid #9ca3af;background:#f3f4f6;font-weight:650;font-size:12px}
ul.ev{margin:3px 0 0;padding-left:16px;font-size:12px;color:#374151}ul.ev li{margin:1px 0}
.res{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:11.5px}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(370px,1fr));gap:12px}
figure{margin:0;padding:6px 8px;border:1px solid #e5e7eb;border-radius:6px}
figcaption{font-size:12.5px;font-weight:650}figcaption .muted{font-weight:400}
svg{max-width:100%;height:auto}svg.trend{width:100%}svg text{font-family:inherit}
.legend{font-size:12px;color:var(--muted);margin:4px 0}
footer{margin-top:40px;padding-top:8px;border-top:1px solid #e5e7eb;font-size:12px;color:var(--muted)}
a{color:#0b5394}
@media screen and (max-width:1000px){.kv div{grid-template-columns:max-content max-content max-content}td.pt{white-space:normal}}
@page{size:A4 landscape;margin:12mm}
@media print{
 th,td{padding:3px 5px}td.kv{font-size:10px}td.pt{white-space:normal}
 body{font-size:10.5px}header.top{background:none;color:#000;border-bottom:2px solid #000;padding:0 0 6px}
 .mode{border:1px solid #000}.controls,.noprint{display:none!important}main{max-width:none;padding:0}
 thead th{position:static}a{color:inherit;text-decoration:none}tr,figure,.banner{break-inside:avoid}
 details.patient{break-before:page;border:0}details.patient>summary{font-size:13px}
 .charts{grid-template-columns:repeat(2,minmax(0,1fr))}
}
@media print{details::details-content{content-visibility:visible;display:block}}
)CSS";

constexpr const char* kScript = R"JS(
(function () {
  'use strict';
  var table = document.getElementById('cand');
  if (!table) return;
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var tier = document.getElementById('f-tier'), check = document.getElementById('f-check');
  var q = document.getElementById('f-q'), shown = document.getElementById('f-shown');
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var state = { sort: 'rank', dir: 1 };
  document.getElementById('controls').hidden = false;
  function save() {
    var p = new URLSearchParams();
    if (tier.value) p.set('tier', tier.value);
    if (check.value) p.set('check', check.value);
    if (q.value.trim()) p.set('q', q.value.trim());
    if (state.sort !== 'rank' || state.dir !== 1) { p.set('sort', state.sort); p.set('dir', state.dir > 0 ? 'asc' : 'desc'); }
    var h = p.toString();
    try { history.replaceState(null, '', h ? '#' + h : location.pathname + location.search); } catch (e) { /* file: URL */ }
  }
  function apply() {
    var t = tier.value, c = check.value, s = q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (!t || r.getAttribute('data-tier') === t) &&
        (!c || ('|' + r.getAttribute('data-check') + '|').indexOf('|' + c + '|') >= 0) &&
        (!s || r.getAttribute('data-patient').toLowerCase().indexOf(s) >= 0);
      r.hidden = !ok;
      if (ok) n++;
    });
    shown.textContent = n + ' of ' + rows.length + ' candidates shown';
  }
  function sortBy(key, dir) {
    var text = key === 'patient' || key === 'tier';
    state.sort = key; state.dir = dir;
    rows.sort(function (a, b) {
      var x = a.getAttribute('data-' + key), y = b.getAttribute('data-' + key);
      var d = text ? (x < y ? -1 : x > y ? 1 : 0) : parseFloat(x) - parseFloat(y);
      return d * dir || parseFloat(a.getAttribute('data-rank')) - parseFloat(b.getAttribute('data-rank'));
    });
    rows.forEach(function (r) { body.appendChild(r); });
    heads.forEach(function (th) {
      var k = th.getAttribute('data-key');
      if (k) th.setAttribute('aria-sort', k === key ? (dir > 0 ? 'ascending' : 'descending') : 'none');
    });
  }
  heads.forEach(function (th) {
    var k = th.getAttribute('data-key');
    if (!k) return;
    var b = document.createElement('button');
    b.type = 'button';
    b.textContent = th.textContent;
    th.textContent = '';
    th.appendChild(b);
    b.addEventListener('click', function () {
      var first = (k === 'rank' || k === 'patient' || k === 'tier') ? 1 : -1;
      sortBy(k, state.sort === k ? -state.dir : first);
      save();
    });
  });
  function openPatient(id) {
    var d = document.getElementById(id);
    if (d && d.tagName === 'DETAILS') { d.open = true; d.scrollIntoView(); }
  }
  function load() {
    var h = location.hash.slice(1);
    if (h.indexOf('pt-') === 0) { openPatient(h); return; }
    var p = new URLSearchParams(h);
    tier.value = p.get('tier') || '';
    check.value = p.get('check') || '';
    q.value = p.get('q') || '';
    sortBy(p.get('sort') || 'rank', p.get('dir') === 'desc' ? -1 : 1);
    apply();
  }
  [tier, check].forEach(function (e) { e.addEventListener('change', function () { apply(); save(); }); });
  q.addEventListener('input', function () { apply(); save(); });
  window.addEventListener('hashchange', function () {
    var h = location.hash.slice(1);
    if (h.indexOf('pt-') === 0) openPatient(h);
  });
  var closed = [];
  window.addEventListener('beforeprint', function () {
    closed = Array.prototype.filter.call(document.querySelectorAll('details'), function (d) { return !d.open; });
    closed.forEach(function (d) { d.open = true; });
  });
  window.addEventListener('afterprint', function () { closed.forEach(function (d) { d.open = false; }); });
  load();
  apply();
})();
)JS";

// The window shaded on every trend chart: E-SLN's "within 8 weeks" (56 days back from the as-of date).
constexpr int kWindowDays = 56;
constexpr const char* kWindowLabel = "8-week window (E-SLN)";

const TrendSpec kTrendSpecs[] = {
    {"anti_dsdna", "Anti-dsDNA", "", 0, "", "", ""},
    {"c3", "Complement C3", "", 0, "mg/dL", "", ""},
    {"c4", "Complement C4", "", 0, "mg/dL", "", ""},
    {"creatinine", "Serum creatinine", ">", 2.5, "mg/dL", "E-SLN", "> 2.5 mg/dL excludes (E-SLN, 8 weeks)"},
    {"urine_protein_24h", "Urine protein (24 h)", ">", 6, "g/(24.h)", "E-SLN",
     "> 6 g/24 h excludes (E-SLN, 8 weeks)"},
    {"iga", "Serum IgA", "<", 10, "mg/dL", "E-IGA", "< 10 mg/dL excludes (E-IGA, latest)"},
};

const char* kKeyLabels[][2] = {{"anti_dsdna", "dsDNA"},
                               {"ana_titre", "ANA"},
                               {"c3", "C3"},
                               {"c4", "C4"},
                               {"creatinine", "Creat."},
                               {"urine_protein_24h", "UP 24h"},
                               {"iga", "IgA"}};

const criteria::Criterion* find_criterion(const criteria::Trial& t, std::string_view id) {
  for (const auto& c : t.criteria)
    if (c.id == id) return &c;
  return nullptr;
}

// UCUM as people read it on a chart ("g/(24.h)" -> "g/24 h").
std::string display_unit(const std::string& u) {
  if (u == "g/(24.h)") return "g/24 h";
  if (u == "mg/(24.h)") return "mg/24 h";
  return u;
}

std::string criterion_of(const std::string& check_next) {
  return check_next.substr(0, check_next.find(": "));
}

// How a criterion's outcome bears on the patient: the word, a symbol and a row class (never colour alone).
struct Reading {
  const char* outcome;
  const char* symbol;
  const char* klass;
  const char* meaning;
};
Reading read(const criteria::Criterion& c, Outcome o) {
  switch (o) {
    case Outcome::met:
      return c.inclusion ? Reading{"met", "\xE2\x9C\x93", "favour", "in favour"}
                         : Reading{"met", "\xE2\x9C\x97", "against", "rules out"};
    case Outcome::not_met:
      return c.inclusion ? Reading{"not met", "\xE2\x9C\x97", "against", "rules out"}
                         : Reading{"not met", "\xE2\x9C\x93", "favour", "in favour"};
    case Outcome::unknown:
      return {"unknown", "?", "undecided", "data missing or doubtful"};
    case Outcome::manual:
      return {"manual", "\xE2\x9C\x8E", "review", "needs a human"};
  }
  return {"unknown", "?", "undecided", ""};
}

std::string tier_badge(Tier t) {
  const std::string n = ranking::to_string(t);
  return "<span class=\"tier " + n + "\">" +
         (t == Tier::eligible   ? "\xE2\x9C\x93 "
          : t == Tier::possible ? "? "
                                : "\xE2\x9C\x97 ") +
         n + "</span>";
}

std::string analogue_chip() {
  return " <span class=\"chip\" title=\"threshold taken from similar trials\">\xE2\x97\x86 analogue</span>";
}

class Page {
 public:
  Page(const criteria::Trial& t, const RunInfo& i, const std::vector<PatientOutcome>& o, ExportMode m,
       const HtmlSink* sink = nullptr)
      : trial_(t), info_(i), outcomes_(o), mode_(m), as_of_(parse_iso_day(i.as_of)), sink_(sink) {}

  // With a sink, the page leaves in pieces of about a megabyte (a hospital's report is tens of megabytes).
  void stream() {
    std::string rest = render();
    (*sink_)(rest);
  }

  std::string render() {
    head();
    header();
    out_ += "<main>";
    banner();
    summary();
    funnel();
    candidates();
    patients();
    ineligible();
    footer();
    out_ += "</main><script>" + std::string(kScript) + "</script></body></html>\n";
    return std::move(out_);
  }

 private:
  const criteria::Trial& trial_;
  const RunInfo& info_;
  const std::vector<PatientOutcome>& outcomes_;
  ExportMode mode_;
  std::optional<Days> as_of_;
  const HtmlSink* sink_;
  std::string out_;

  void flush_if_big() {
    if (!sink_ || out_.size() < (std::size_t{1} << 20)) return;
    (*sink_)(out_);
    out_.clear();
  }

  std::size_t count(Tier t) const {
    return static_cast<std::size_t>(
        std::count_if(outcomes_.begin(), outcomes_.end(), [&](const auto& o) { return o.tier == t; }));
  }
  bool identified() const { return mode_ == ExportMode::identified; }
  // De-identified exports withhold the score (apply_privacy zeroes it): its recency term would reveal the
  // shift.
  std::string score(const PatientOutcome& o) const {
    return pseudonymised(mode_) ? "withheld" : format_score(o.score);
  }

  void head() {
    const std::string csp = "default-src 'none'; style-src " + csp_hash(kStyle) + "; script-src " +
                            csp_hash(kScript) + "; img-src 'none'; base-uri 'none'; form-action 'none'";
    out_ += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
    out_ += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + esc(csp) + "\">";
    out_ += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">";
    out_ += "<meta name=\"referrer\" content=\"no-referrer\">";
    out_ += "<title>" + esc(trial_.id + " candidates as of " + info_.as_of) + "</title>";
    out_ += "<style>" + std::string(kStyle) + "</style></head><body>";
  }

  void header() {
    auto mode_text = [](ExportMode m) {  // a switch, so that a new mode cannot be missed
      switch (m) {
        case ExportMode::identified:
          return "identified: names and ids";
        case ExportMode::limited:
          return "limited data set: no names";
        case ExportMode::deidentified:
          return "de-identified: pseudonyms, shifted dates";
        case ExportMode::safe_harbor:
          return "Safe Harbor: pseudonyms, years only";
        case ExportMode::counts:
          break;
      }
      return "counts only";
    };
    out_ += "<header class=\"top\"><h1>" + esc(trial_.id) +
            " \xE2\x80\x94 possible participants<span class=\"mode\">" + mode_text(mode_) +
            "</span></h1><div class=\"sub\">" + esc(trial_.title) + "<br>As of <b>" + esc(info_.as_of) +
            "</b> \xC2\xB7 trial definition version " + esc(trial_.version) + " \xC2\xB7 cohort-finder " +
            esc(info_.tool_version) + "</div></header>";
  }

  void banner() {
    std::vector<std::string> lost, analogue, manual;
    for (const auto& c : trial_.criteria) {
      std::string lower = c.label;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](char ch) { return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch + 32) : ch; });
      if (lower.find("not recovered") != std::string::npos) lost.push_back(c.id);
      if (c.analogue) analogue.push_back(c.id);
      if (!c.manual.empty()) manual.push_back(c.id);
    }
    auto list = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return esc(s.empty() ? "none" : s);
    };
    out_ +=
        "<section class=\"banner\" role=\"note\" aria-labelledby=\"banner-h\"><h2 "
        "id=\"banner-h\">\xE2\x9A\xA0 Partial "
        "trial definition: a screening aid, not an eligibility decision</h2>";
    out_ +=
        "<p><b>Not recovered:</b> " + list(lost) +
        " and most of the registry's exclusion criteria could not be read, so they are not checked at all. "
        "\xE2\x80\x9C"
        "Eligible\xE2\x80\x9D here means that nothing computable speaks against the patient.</p>";
    out_ +=
        "<p><b>Analogue thresholds</b> (marked <span class=\"chip\">\xE2\x97\x86 analogue</span>), taken "
        "from similar "
        "trials until the registry text is read: " +
        list(analogue) + ".</p>";
    out_ += "<p><b>Always manual</b> (consent, physician assessments): " + list(manual) + ".</p>";
    // Candidates' evidence that rests on codes the maps mark "verified": false (written from memory). Only
    // candidates': a run drops ineligible patients' evidence once their lines are written, and `merge` reads
    // back what their lines kept, so counting theirs would make the two reports differ.
    std::map<std::string, std::size_t> unverified;
    for (const auto& o : outcomes_) {
      if (o.tier == Tier::ineligible) continue;
      for (const auto& r : o.results)
        for (const auto& e : r.evidence)
          if (e.rule.ends_with(terminology::kUnverifiedNote))
            ++unverified[e.rule.substr(0, e.rule.size() - terminology::kUnverifiedNote.size())];
    }
    if (!unverified.empty()) {
      std::string rules;
      for (const auto& [rule, n] : unverified)
        rules += (rules.empty() ? "" : "; ") + rule + " (" + std::to_string(n) + ")";
      out_ +=
          "<p><b>Codes not yet verified</b> (written from memory in the code maps) that evidence below rests "
          "on, with how many pieces of evidence each; check them against loinc.org, VSAC or Athena "
          "(<code>cohort-finder run --check true</code> lists them all): " +
          esc(rules) + ".</p>";
    }
    for (const auto& n : trial_.notes) out_ += "<p class=\"small\">" + esc(n) + "</p>";
    out_ += "</section>";
  }

  void summary() {
    out_ += "<section aria-labelledby=\"sum-h\"><h2 id=\"sum-h\">Run summary</h2><div class=\"cards\">";
    out_ += "<div class=\"card\"><span class=\"n\">" + std::to_string(outcomes_.size()) +
            "</span>patients evaluated</div>";
    for (Tier t : {Tier::eligible, Tier::possible, Tier::ineligible}) {
      const std::string n = ranking::to_string(t);
      out_ += "<div class=\"card " + n + "\" data-tier-count=\"" + n + "\"><span class=\"n\">" +
              std::to_string(count(t)) + "</span>" + n + "</div>";
    }
    std::size_t issues = 0;
    for (const auto& [k, n] : info_.issues_by_kind) issues += n;
    out_ +=
        "<div class=\"card\"><span class=\"n\">" + std::to_string(issues) + "</span>data issues</div></div>";
    out_ += "<div class=\"cols\"><dl class=\"meta\">";
    auto row = [&](const std::string& k, const std::string& v) {
      if (!v.empty()) out_ += "<dt>" + esc(k) + "</dt><dd>" + esc(v) + "</dd>";
    };
    row("As of", info_.as_of);
    row("Trial", trial_.id + ", definition version " + trial_.version);
    row("Definition SHA-256", trial_.sha256);
    row("Source", info_.source);
    row("Source complete",
        info_.complete ? "yes" : "no: decisions that depend on the missing part are unknown");
    std::string inc;
    for (const auto& s : info_.incomplete) inc += (inc.empty() ? "" : "; ") + s;
    row("Incomplete", inc);
    row("Run", info_.started + (info_.finished.empty() ? "" : " to " + info_.finished));
    row("Tool", "cohort-finder " + info_.tool_version);
    row("Export", std::string(to_string(mode_)));
    out_ += "</dl><div><h3>Data issues by kind</h3>";
    if (info_.issues_by_kind.empty()) {
      out_ += "<p class=\"muted\">None.</p>";
    } else {
      out_ +=
          "<table class=\"small\" id=\"issues\"><thead><tr><th>kind</th><th "
          "class=\"num\">count</th></tr></thead><tbody>";
      for (const auto& [k, n] : info_.issues_by_kind)
        out_ += "<tr><td>" + esc(k) + "</td><td class=\"num\">" + std::to_string(n) + "</td></tr>";
      out_ += "</tbody></table><p class=\"small muted\">Details: data_issues.ndjson.</p>";
    }
    unidentified_drugs();
    out_ += "</div></div></section>";
  }

  // Drugs that neither a code nor a name of the mappings identifies: where "no other therapy" stays unknown,
  // and what the study team should add to mappings/local/.
  void unidentified_drugs() {
    const auto& drugs = info_.unidentified_drugs;
    if (drugs.empty()) return;
    constexpr std::size_t kShown = 50;
    out_ +=
        "<h3>Drugs the mappings do not identify</h3><table class=\"small\" "
        "id=\"unidentified-drugs\"><thead><tr>"
        "<th>codes</th><th>name</th><th class=\"num\">patients</th><th class=\"num\">uses</th></tr></thead>"
        "<tbody>";
    for (std::size_t i = 0; i < drugs.size() && i < kShown; ++i) {
      std::string codes;
      for (const auto& c : drugs[i].codes) codes += (codes.empty() ? "" : ", ") + c;
      out_ += "<tr><td>" + esc(codes) + "</td><td>" + esc(drugs[i].name) + "</td><td class=\"num\">" +
              std::to_string(drugs[i].patients) + "</td><td class=\"num\">" + std::to_string(drugs[i].uses) +
              "</td></tr>";
    }
    out_ +=
        "</tbody></table><p class=\"small muted\">" +
        (drugs.size() > kShown ? std::to_string(drugs.size() - kShown) + " more in manifest.json. " : "") +
        "A criterion that needs every current drug known (\xE2\x80\x9C"
        "no other therapy\xE2\x80\x9D) is unknown beside them; map them in mappings/local/ "
        "(mappings/README.md).</p>";
  }

  void funnel() {
    const auto steps = funnel_steps(trial_, outcomes_);
    out_ +=
        "<section aria-labelledby=\"fun-h\"><h2 id=\"fun-h\">Attrition funnel</h2><p class=\"small "
        "muted\">Each "
        "criterion in definition order: how many of the patients still in it removed, and how many it left "
        "undecided. Exclusions are in italics; \xE2\x97\x86 marks analogue thresholds.</p>";
    out_ += svg::funnel_chart("funnel", steps, outcomes_.size());
    out_ +=
        "<details class=\"noprint\"><summary>The funnel as a table</summary><table class=\"small\" "
        "id=\"funnel-table\">"
        "<thead><tr><th>criterion</th><th>kind</th><th>label</th><th class=\"num\">in before</th><th "
        "class=\"num\">"
        "removed</th><th class=\"num\">undecided</th><th class=\"num\">manual</th><th "
        "class=\"num\">left</th></tr>"
        "</thead><tbody>";
    for (const auto& s : steps)
      out_ += "<tr data-step=\"" + esc(s.id) + "\"><td>" + esc(s.id) + (s.analogue ? analogue_chip() : "") +
              "</td><td>" + esc(s.kind) + "</td><td>" + esc(s.label) + "</td><td class=\"num\">" +
              std::to_string(s.before) + "</td><td class=\"num\">" + std::to_string(s.removed) +
              "</td><td class=\"num\">" + std::to_string(s.undecided) + "</td><td class=\"num\">" +
              std::to_string(s.manual) + "</td><td class=\"num\">" + std::to_string(s.before - s.removed) +
              "</td></tr>";
    out_ += "</tbody></table></details></section>";
  }

  std::string check_next_text(const std::string& entry) const {
    const std::string id = criterion_of(entry);
    std::string text = entry.size() > id.size() + 2 ? entry.substr(id.size() + 2) : "";
    if (text.empty())
      if (const auto* c = find_criterion(trial_, id)) text = c->check_next.empty() ? c->label : c->check_next;
    return "<li><b>" + esc(id) + "</b> " + esc(text) + "</li>";
  }

  void candidates() {
    std::set<std::string> checks;
    for (const auto& o : outcomes_)
      if (o.tier != Tier::ineligible)
        for (const auto& c : o.check_next) checks.insert(criterion_of(c));
    out_ += "<section aria-labelledby=\"cand-h\"><h2 id=\"cand-h\">Ranked candidates (" +
            std::to_string(count(Tier::eligible) + count(Tier::possible)) + ")</h2>";
    out_ +=
        "<div class=\"controls noprint\" id=\"controls\" hidden><label>Tier<select id=\"f-tier\"><option "
        "value=\"\">"
        "eligible and possible</option><option value=\"eligible\">eligible</option><option "
        "value=\"possible\">"
        "possible</option></select></label><label>Check next<select id=\"f-check\"><option value=\"\">any "
        "criterion"
        "</option>";
    for (const auto& c : checks) {
      const auto* cr = find_criterion(trial_, c);
      out_ += "<option value=\"" + esc(c) + "\">" +
              esc(c + (cr ? " \xE2\x80\x94 " + shorten_utf8(cr->label, 40) : "")) + "</option>";
    }
    out_ +=
        "</select></label><label>Patient id<input id=\"f-q\" type=\"search\" placeholder=\"search ids\" "
        "autocomplete=\"off\"></label><span id=\"f-shown\" class=\"small muted\" "
        "aria-live=\"polite\"></span></div>";
    // Headers with data-key are made sortable by the script; the withheld score is not.
    const std::string score_key = pseudonymised(mode_) ? "" : " data-key=\"score\"";
    // How the score is made, on hovering its header (with the default weights it reads digit by digit).
    const auto& w = trial_.ranking;
    auto weight = [](double d) {
      std::string t = format_score(d);
      while (t.find('.') != std::string::npos && (t.back() == '0' || t.back() == '.')) t.pop_back();
      return t;
    };
    const std::string score_title =
        " title=\"" +
        esc(weight(w.per_criterion_in_favour) + " per criterion in favour + " + weight(w.per_sledai2k_point) +
            " per SLEDAI-2K point + " + weight(w.per_eular_acr_point) + " per EULAR/ACR point + up to " +
            weight(w.recency_weight) + " for recent key results") +
        "\"";
    out_ +=
        "<table id=\"cand\"><thead><tr><th data-key=\"rank\" class=\"num\" aria-sort=\"ascending\">Rank</th>"
        "<th data-key=\"patient\">Patient</th><th data-key=\"tier\">Tier</th><th class=\"num\"" +
        score_key + score_title +
        ">Score</th><th data-key=\"favour\" class=\"num\">In favour</th><th data-key=\"unknown\" "
        "class=\"num\">Unknown</th><th data-key=\"manual\" class=\"num\">Manual</th><th>Check next</th>"
        "<th>Key values</th></tr></thead><tbody>";
    for (const auto& o : outcomes_) {
      if (o.tier == Tier::ineligible) continue;
      std::string checks_attr;
      for (const auto& c : o.check_next) checks_attr += (checks_attr.empty() ? "" : "|") + criterion_of(c);
      out_ += "<tr data-rank=\"" + std::to_string(o.rank) + "\" data-patient=\"" + esc(o.patient_id) +
              "\" data-tier=\"" + ranking::to_string(o.tier) + "\" data-score=\"" + format_score(o.score) +
              "\" data-favour=\"" + std::to_string(o.in_favour) + "\" data-unknown=\"" +
              std::to_string(o.unknown) + "\" data-manual=\"" + std::to_string(o.manual) +
              "\" data-check=\"" + esc(checks_attr) + "\">";
      out_ += "<td class=\"num\">" + std::to_string(o.rank) + "</td><td class=\"pt\"><a href=\"#pt-" +
              std::to_string(o.rank) + "\">" + esc(o.patient_id) + "</a>";
      if (identified() && !o.name.empty()) out_ += "<br><span class=\"small\">" + esc(o.name) + "</span>";
      out_ += "</td><td>" + tier_badge(o.tier) + screening(o) + "</td><td class=\"num\">" + score(o) +
              "</td><td class=\"num\">" + std::to_string(o.in_favour) + "</td><td class=\"num\">" +
              std::to_string(o.unknown) + "</td><td class=\"num\">" + std::to_string(o.manual) + "</td><td>";
      if (o.check_next.empty()) {
        out_ += "<span class=\"muted small\">only manual criteria left</span>";
      } else {
        out_ += "<ul class=\"cn\">";
        for (const auto& c : o.check_next) out_ += check_next_text(c);
        out_ += "</ul>";
      }
      out_ += "</td><td class=\"kv\">" + key_values(o) + "</td></tr>";
    }
    out_ += "</tbody></table></section>";
  }

  // The coordinators' feedback from the state store (a fixed vocabulary: screened, enrolled, declined...).
  static std::string screening(const PatientOutcome& o) {
    return o.screening_status.empty()
               ? ""
               : "<br><span class=\"small muted\">screening: " + esc(o.screening_status) + "</span>";
  }

  static std::string key_values(const PatientOutcome& o) {
    std::string s;
    for (const auto& [concept_id, label] : kKeyLabels)
      for (const auto& kv : o.key_values)
        if (kv.concept_id == concept_id && !kv.value.empty())
          s += "<b>" + std::string(label) + "</b><span>" + esc(kv.value) + "</span><span class=\"muted\">" +
               esc(kv.date.substr(0, 10)) + "</span>";
    return s.empty() ? "<span class=\"muted\">none</span>" : "<div>" + s + "</div>";
  }

  void patients() {
    out_ +=
        "<section aria-labelledby=\"pat-h\"><h2 id=\"pat-h\">Candidates in detail</h2><p class=\"small "
        "muted\">Open "
        "a patient for the decision on every criterion, the data behind it and the trend of the key results.";
    if (mode_ == ExportMode::deidentified)
      out_ +=
          " Dates are shifted by up to 30 days per patient (the same shift for all of one patient's dates); "
          "decisions were made on the true dates.";
    if (mode_ == ExportMode::safe_harbor)
      out_ +=
          " Dates are shown as years only and ages over 89 as 90+ (HIPAA Safe Harbor), so there are no trend "
          "charts; decisions were made on the true dates.";
    out_ += "</p>";
    for (const auto& o : outcomes_)
      if (o.tier != Tier::ineligible) {
        patient(o);
        flush_if_big();
      }
    out_ += "</section>";
  }

  void patient(const PatientOutcome& o) {
    const std::string anchor = "pt-" + std::to_string(o.rank);
    out_ += "<details class=\"patient\" id=\"" + anchor + "\" data-patient=\"" + esc(o.patient_id) +
            "\"><summary>" + "<span class=\"pid\">#" + std::to_string(o.rank) + " \xC2\xB7 " +
            esc(o.patient_id) + "</span> " + tier_badge(o.tier) + " <span class=\"small\">score " + score(o) +
            " \xC2\xB7 " + std::to_string(o.in_favour) + " in favour \xC2\xB7 " + std::to_string(o.unknown) +
            " unknown \xC2\xB7 " + std::to_string(o.manual) + " manual</span></summary><div class=\"pbody\">";
    std::string who;
    if (identified() && !o.name.empty()) who += "<b>" + esc(o.name) + "</b> \xC2\xB7 ";
    if (!o.gender.empty()) who += "gender " + esc(o.gender);
    if (!pseudonymised(mode_) && !o.birth_date.empty()) who += " \xC2\xB7 born " + esc(o.birth_date);
    if (!o.screening_status.empty()) who += " \xC2\xB7 screening: " + esc(o.screening_status);
    who += " \xC2\xB7 lab-only lower bounds: SLEDAI-2K " + std::to_string(o.bounds.sledai2k) +
           ", EULAR/ACR " + std::to_string(o.bounds.eular_acr) +
           (o.bounds.eular_entry ? "" : " (without the ANA entry criterion: classifies nothing)");
    out_ += "<p class=\"small\">" + who + "</p>";
    if (!o.check_next.empty()) {
      out_ += "<h3>Check next</h3><ul class=\"cn\">";
      for (const auto& c : o.check_next) out_ += check_next_text(c);
      out_ += "</ul>";
    }
    grid(o, anchor);
    charts(o, anchor);
    out_ += "</div></details>";
  }

  void grid(const PatientOutcome& o, const std::string& anchor) {
    out_ += "<h3>Criteria</h3><table class=\"grid small\" id=\"" + anchor +
            "-grid\"><thead><tr><th>Criterion</th>"
            "<th>Label</th><th>Decision</th><th>Why, and the data behind it</th></tr></thead><tbody>";
    bool exclusions = false;
    out_ += "<tr class=\"sep\"><td colspan=\"4\">Inclusion criteria (must be met)</td></tr>";
    for (std::size_t i = 0; i < o.results.size() && i < trial_.criteria.size(); ++i) {
      const auto& c = trial_.criteria[i];
      const auto& r = o.results[i];
      if (!c.inclusion && !exclusions) {
        exclusions = true;
        out_ += "<tr class=\"sep\"><td colspan=\"4\">Exclusion criteria (must not be met)</td></tr>";
      }
      const Reading rd = read(c, r.outcome);
      out_ += "<tr class=\"" + std::string(rd.klass) + "\" data-criterion=\"" + esc(c.id) +
              "\" data-outcome=\"" + criteria::to_string(r.outcome) + "\"><td><b>" + esc(c.id) + "</b>" +
              (c.analogue ? analogue_chip() : "") + "<br><span class=\"muted\">" +
              (c.inclusion ? "inclusion" : "exclusion") + "</span></td><td>" + esc(c.label) +
              "</td><td class=\"oc\"><span class=\"sym\" aria-hidden=\"true\">" + rd.symbol + "</span>" +
              rd.outcome + "<span class=\"why\">" + rd.meaning + "</span></td><td>" + esc(r.reason);
      evidence(r.evidence);
      out_ += "</td></tr>";
    }
    out_ += "</tbody></table>";
  }

  void evidence(const std::vector<criteria::Evidence>& list) {
    std::vector<const criteria::Evidence*> shown;
    for (const auto& e : list) {
      bool dup = false;
      for (const auto* s : shown)
        dup = dup || (s->resource == e.resource && s->note == e.note && s->original == e.original &&
                      s->date == e.date);
      if (!dup) shown.push_back(&e);
    }
    if (shown.empty()) return;
    const bool fold = shown.size() > 4;
    if (fold)
      out_ += "<details><summary class=\"small\">" + std::to_string(shown.size()) +
              " pieces of evidence</summary>";
    out_ += "<ul class=\"ev\">";
    for (const auto* e : shown) {
      std::string s = "<span class=\"res\">" + esc(e->resource) + "</span>";
      if (!e->version_id.empty()) s += " v" + esc(e->version_id);
      if (!e->date.empty()) s += " \xC2\xB7 " + esc(e->date);
      if (!e->original.empty()) s += " \xC2\xB7 <b>" + esc(e->original) + "</b>";
      if (!e->normalised.empty() && e->normalised != e->original) s += " \xE2\x86\x92 " + esc(e->normalised);
      if (!e->conversion.empty()) s += " <span class=\"muted\">(" + esc(e->conversion) + ")</span>";
      if (e->low_confidence) s += " <b>low-confidence code</b>";
      if (!e->note.empty()) s += " \xC2\xB7 <i>" + esc(e->note) + "</i>";
      std::string src;
      if (!e->coding.empty()) src += esc(e->coding);
      if (!e->rule.empty()) src += (src.empty() ? "" : "; ") + std::string("rule: ") + esc(e->rule);
      if (!e->location.empty())
        src += (src.empty() ? "" : "; ") + std::string("read from ") + esc(e->location);
      if (!src.empty()) s += "<br><span class=\"muted\">" + src + "</span>";
      out_ += "<li>" + s + "</li>";
    }
    out_ += "</ul>";
    if (fold) out_ += "</details>";
  }

  void charts(const PatientOutcome& o, const std::string& anchor) {
    std::string figs;
    int n = 0;
    for (const auto& spec : trend_specs()) {
      std::map<std::string, std::vector<svg::Point>>
          by_unit;  // kit-specific units are never mixed on one axis
      for (const auto& p : o.series)
        if (p.concept_id == spec.concept_id)
          by_unit[p.unit].push_back({p.day, p.value, p.comparator, p.resource});
      for (auto& [unit, points] : by_unit) {
        svg::TrendChart c;
        c.id = anchor + "-c" + std::to_string(n++);
        c.title = spec.title;
        c.unit = unit.empty() ? "unit removed" : display_unit(unit);
        c.points = std::move(points);
        c.as_of = as_of_.value_or(c.points.back().day);
        std::string note;
        if (*spec.op && unit == spec.unit)
          c.threshold = svg::Threshold{spec.threshold, spec.op, spec.label};
        else if (*spec.op)
          note = "Threshold not drawn: results are in " + unit + ", the threshold in " + spec.unit + ".";
        if (as_of_ && !pseudonymised(mode_)) {
          c.window_from = *as_of_ - kWindowDays;
          c.window_label = kWindowLabel;
        } else if (pseudonymised(mode_)) {
          note +=
              " The 8-week window is not drawn: against the true as-of date it would reveal the date shift.";
        }
        c.note = note;
        figs += "<figure data-concept=\"" + esc(spec.concept_id) + "\"><figcaption>" + esc(spec.title) +
                " <span class=\"muted\">(" + esc(c.unit) + ", " + std::to_string(c.points.size()) +
                " result" + (c.points.size() == 1 ? "" : "s") + ")</span></figcaption>" + svg::trend_chart(c);
        if (!note.empty()) figs += "<p class=\"small muted\">" + esc(note) + "</p>";
        figs += "</figure>";
      }
    }
    out_ += "<h3>Trends</h3>";
    if (figs.empty()) {
      out_ += "<p class=\"muted small\">No anti-dsDNA, C3, C4, creatinine, urine protein or IgA results.</p>";
      return;
    }
    out_ +=
        "<p class=\"legend\">\xE2\x97\x8F result \xC2\xB7 \xE2\x97\x8B reported with &lt; or &gt; \xC2\xB7 "
        "\xE2\x96\xB2 beyond the trial threshold \xC2\xB7 dashed line: threshold \xC2\xB7 dotted line: as-of "
        "date \xC2\xB7 shaded: the 8 weeks before it (E-SLN window)</p><div class=\"charts\">" +
        figs + "</div>";
  }

  void ineligible() {
    const std::size_t n = count(Tier::ineligible);
    out_ +=
        "<section aria-labelledby=\"inel-h\"><h2 id=\"inel-h\">Ineligible (" + std::to_string(n) + ")</h2>";
    if (!identified()) {
      out_ +=
          "<p class=\"muted\">Ineligible patients are counted above and in the funnel, and not listed in a " +
          std::string(to_string(mode_)) + " export.</p></section>";
      return;
    }
    out_ += "<details id=\"ineligible\"><summary>List the " + std::to_string(n) +
            " ineligible patients with the criterion that decided</summary><table class=\"small\"><thead><tr>"
            "<th>Patient</th><th>Deciding</th></tr></thead><tbody>";
    for (const auto& o : outcomes_) {
      if (o.tier != Tier::ineligible) continue;
      std::string d;
      for (const auto& id : o.deciding) {
        const auto* c = find_criterion(trial_, id);
        d += (d.empty() ? "" : "<br>") + ("<b>" + esc(id) + "</b>") + (c ? " " + esc(c->label) : "");
      }
      out_ += "<tr data-patient=\"" + esc(o.patient_id) + "\"><td>" + esc(o.patient_id) +
              (o.name.empty() ? "" : "<br><span class=\"muted\">" + esc(o.name) + "</span>") + "</td><td>" +
              d + "</td></tr>";
      flush_if_big();
    }
    out_ += "</tbody></table></details></section>";
  }

  void footer() {
    out_ += "<footer>Written by cohort-finder " + esc(info_.tool_version) + " from the " + esc(trial_.id) +
            " definition (SHA-256 " + esc(trial_.sha256.substr(0, 16)) + "\xE2\x80\xA6). ";
    if (!pseudonymised(mode_))
      out_ +=
          "<b>This page contains patient data</b>: keep it where you keep the chart, and delete copies you "
          "no "
          "longer need. ";
    out_ += "Self-contained: it loads nothing from the network.</footer>";
  }
};

}  // namespace

const std::vector<TrendSpec>& trend_specs() {
  static const std::vector<TrendSpec> v(std::begin(kTrendSpecs), std::end(kTrendSpecs));
  return v;
}

std::vector<svg::FunnelStep> funnel_steps(const criteria::Trial& trial,
                                          const std::vector<PatientOutcome>& outcomes) {
  std::vector<svg::FunnelStep> steps;
  std::vector<bool> alive(outcomes.size(), true);
  svg::FunnelStep dead{"deceased", "Deceased (never candidates)", "built-in", false, outcomes.size(), 0, 0,
                       0};
  for (std::size_t p = 0; p < outcomes.size(); ++p)
    if (outcomes[p].deceased) {
      alive[p] = false;
      ++dead.removed;
    }
  steps.push_back(dead);
  std::size_t remaining = outcomes.size() - dead.removed;
  for (std::size_t i = 0; i < trial.criteria.size(); ++i) {
    const auto& c = trial.criteria[i];
    svg::FunnelStep s{c.id, c.label, c.inclusion ? "inclusion" : "exclusion", c.analogue, remaining, 0, 0, 0};
    for (std::size_t p = 0; p < outcomes.size(); ++p) {
      if (!alive[p] || i >= ranking::criteria_count(outcomes[p])) continue;
      const auto oc = ranking::outcome_at(outcomes[p], i);
      if (oc == Outcome::unknown) ++s.undecided;
      if (oc == Outcome::manual) ++s.manual;
      if (c.inclusion ? oc == Outcome::not_met : oc == Outcome::met) {
        alive[p] = false;
        ++s.removed;
      }
    }
    remaining -= s.removed;
    steps.push_back(s);
  }
  return steps;
}

namespace {

// A de-identified page must not go out with names or raw ids: a short page says why instead.
bool refuse(const std::vector<PatientOutcome>& outcomes, ExportMode mode) {
  if (!pseudonymised(mode)) return false;
  for (const auto& o : outcomes)
    if (!o.name.empty() || !looks_like_pseudonym(o.patient_id)) return true;
  return false;
}

constexpr std::string_view kRefused =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Report "
    "refused</title></head>"
    "<body><p>The de-identified report was not written: the outcomes still carry names or patient ids "
    "(apply_privacy was not applied).</p></body></html>\n";

}  // namespace

std::string html_report(const criteria::Trial& trial, const RunInfo& info,
                        const std::vector<PatientOutcome>& outcomes, ExportMode mode) {
  if (refuse(outcomes, mode)) return std::string(kRefused);
  return Page(trial, info, outcomes, mode).render();
}

void html_report(const criteria::Trial& trial, const RunInfo& info,
                 const std::vector<PatientOutcome>& outcomes, ExportMode mode, const HtmlSink& sink) {
  if (refuse(outcomes, mode)) {
    sink(kRefused);
    return;
  }
  Page(trial, info, outcomes, mode, &sink).stream();
}

}  // namespace cf::report
