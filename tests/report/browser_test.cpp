// The demo run's report.html in a real browser: headless Debian chromium loads it from a file: URL and dumps
// the DOM after the page script ran. Checks the rank order, two patients' criterion grids against the hand
// adjudication (fhir-samples/expected.json), that the charts lay out with their threshold lines, that the
// console stays silent (a CSP violation or a script error would log there) and that the page requested
// nothing: chromium's NetLog must hold no request whose initiator is the page (chromium's own background
// requests have none). Artefacts (report.html, report.png, patient.png, logs) stay in
// <build>/tests/report/browser-artefacts/.
#define BOOST_TEST_MODULE report_browser
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "demo.hpp"
#include "json/json.hpp"
#include "report/html_report.hpp"

using namespace cf;
namespace fs = std::filesystem;

namespace {

const char* kChromium = "/usr/bin/chromium";

struct HasChromium {
  boost::test_tools::assertion_result operator()(boost::unit_test::test_unit_id) const {
    boost::test_tools::assertion_result r(fs::exists(kChromium));
    if (r) return r;
    r.message() << "SKIPPED: " << kChromium << " is absent";
    static bool said = false;  // once, on stderr, whatever the log level
    if (!said)
      std::cerr << "report_browser_test: SKIPPED: " << kChromium
                << " is absent (apt-get install -y chromium, or deploy/install-deps.sh --with-tests)\n";
    said = true;
    return r;
  }
};

fs::path artefacts() {
  fs::path p = CF_ARTEFACT_DIR;
  fs::create_directories(p);
  return p;
}

struct Browser {
  std::string out, log, netlog;
  int status = -1;
};

// One headless chromium run with a fresh profile; `mode` is "--dump-dom" or "--screenshot=FILE".
Browser chromium(const fs::path& page, const std::string& fragment, const std::string& mode,
                 const std::string& tag) {
  test::TempDir profile;
  const fs::path dir = artefacts();
  const fs::path out = dir / (tag + ".out"), log = dir / (tag + ".log"), net = dir / (tag + ".netlog.json");
  // MAP * ~NOTFOUND: even chromium's own background requests never leave the machine.
  const std::string cmd =
      std::string("timeout 40 ") + kChromium +
      " --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking"
      " --disable-component-update --disable-sync --disable-dev-shm-usage --hide-scrollbars"
      " --host-resolver-rules='MAP * ~NOTFOUND' --window-size=1400,1800"
      " --user-data-dir='" +
      profile.path.string() +
      "' --enable-logging=stderr --v=0"
      " --log-net-log='" +
      net.string() + "' " + mode + " 'file://" + page.string() + fragment + "' > '" + out.string() +
      "' 2> '" + log.string() + "'";
  Browser b;
  b.status = std::system(cmd.c_str());
  b.out = test::read_text(out);
  b.log = test::read_text(log);
  b.netlog = test::read_text(net);
  return b;
}

std::vector<std::string> console_lines(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);)
    if (l.find(":CONSOLE") != std::string::npos) lines.push_back(l);
  return lines;
}

// Requests the page made (initiator: the page's opaque file origin), as opposed to the browser's own.
std::size_t page_requests(const std::string& netlog) {
  return test::count_of(netlog, "\"initiator\":\"null\"") + test::count_of(netlog, "\"initiator\":\"file://");
}

// The HTML of one patient's panel in the dumped DOM.
std::string panel(const std::string& dom, const std::string& patient) {
  const auto start = dom.find("class=\"patient\" id=\"pt-");
  for (auto p = start; p != std::string::npos; p = dom.find("class=\"patient\" id=\"pt-", p + 1)) {
    const auto tag_end = dom.find('>', p);
    if (dom.substr(p, tag_end - p).find("data-patient=\"" + patient + "\"") == std::string::npos) continue;
    const auto next = dom.find("class=\"patient\" id=\"pt-", p + 1);
    return dom.substr(p, (next == std::string::npos ? dom.find("</section>", p) : next) - p);
  }
  return {};
}

std::map<std::string, std::string> expected_outcomes(const std::string& patient) {
  json::Document d;
  json::ParseError e;
  BOOST_REQUIRE(json::parse(test::read_text(test::repo() / "fhir-samples/expected.json"), d, e));
  std::map<std::string, std::string> out;
  json::for_each(json::member(d, "patients"), [&](std::size_t, const json::Value& p) {
    if (json::string(json::member(p, "patient")).value_or("") != patient) return;
    const json::Value* c = json::member(p, "criteria");
    for (auto m = c->MemberBegin(); m != c->MemberEnd(); ++m)
      out[m->name.GetString()] = std::string(json::string(&m->value).value_or(""));
  });
  return out;
}

// A copy for instrumentation: the policy would (rightly) block any script but the page's own.
std::string without_csp(std::string html) {
  const auto at = html.find("<meta http-equiv=\"Content-Security-Policy\"");
  BOOST_TEST_REQUIRE(at != std::string::npos);
  return html.erase(at, html.find('>', at) + 1 - at);
}

struct Fixture {
  fs::path page;
  std::vector<std::string> ranked;  // candidate ids in rank order
  Fixture() {
    const auto& run = test::demo();
    for (const auto& o : run.outcomes)
      if (o.tier != ranking::Tier::ineligible) ranked.push_back(o.patient_id);
    page = fs::absolute(artefacts() / "report.html");
    std::ofstream(page, std::ios::binary)
        << report::html_report(test::nct(), run.info, run.outcomes, report::ExportMode::identified);
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(demo_report_in_chromium, *boost::unit_test::precondition(HasChromium())) {
  const auto t0 = std::chrono::steady_clock::now();
  Fixture f;
  const std::string html = test::read_text(f.page);
  // Nothing in the page may point at the network: no http(s) or protocol-relative URL in src/href/url().
  BOOST_TEST(test::network_reference(html) == "");

  const Browser b = chromium(f.page, "", "--dump-dom", "dom");
  BOOST_TEST_REQUIRE(b.status == 0, "chromium failed; see browser-artefacts/dom.log");
  const std::string& dom = b.out;
  BOOST_TEST(console_lines(b.log).empty(),
             "console output: " << (console_lines(b.log).empty() ? "" : console_lines(b.log)[0]));
  BOOST_TEST(page_requests(b.netlog) == 0u);
  BOOST_TEST(b.netlog.find("\"events\"") != std::string::npos, "the NetLog was written");

  // The script ran: controls shown, count filled in.
  BOOST_TEST(dom.find("id=\"controls\" hidden") == std::string::npos);
  BOOST_TEST(dom.find(std::to_string(f.ranked.size()) + " of " + std::to_string(f.ranked.size()) +
                      " candidates shown") != std::string::npos);

  // Candidates in rank order.
  std::vector<std::string> rows;
  for (const auto& r : test::candidate_rows(dom)) {
    BOOST_TEST(r.rank == rows.size() + 1);
    BOOST_TEST(!r.hidden);
    rows.push_back(r.patient);
  }
  BOOST_TEST(rows == f.ranked, boost::test_tools::per_element());
  BOOST_TEST(rows.size() == 36u);

  // Two patients' grids against the hand adjudication: cc-009 (eligible, values exactly at the thresholds)
  // and cc-033 (possible: no urine protein within 8 weeks, no IgA ever).
  for (const std::string id : {"cc-009", "cc-033"}) {
    BOOST_TEST_CONTEXT("patient " << id) {
      const std::string p = panel(dom, id);
      BOOST_TEST_REQUIRE(!p.empty());
      const auto want = expected_outcomes(id);
      BOOST_TEST(want.size() == 22u);
      for (const auto& [crit, outcome] : want)
        BOOST_TEST(
            p.find("data-criterion=\"" + crit + "\" data-outcome=\"" + outcome + "\"") != std::string::npos,
            crit << " shown as " << outcome);
    }
  }
  const std::string p9 = panel(dom, "cc-009");
  for (const char* concept_id : {"creatinine", "urine_protein_24h", "iga"}) {
    const auto at = p9.find("<figure data-concept=\"" + std::string(concept_id) + "\"");
    BOOST_TEST_REQUIRE(at != std::string::npos, concept_id);
    const std::string fig = p9.substr(at, p9.find("</figure>", at) - at);
    BOOST_TEST(fig.find("<svg class=\"trend\"") != std::string::npos);
    BOOST_TEST(fig.find("class=\"threshold\"") != std::string::npos, concept_id << " threshold drawn");
    BOOST_TEST(fig.find("class=\"window\"") != std::string::npos, concept_id << " 8-week window shaded");
    BOOST_TEST(fig.find("<title id=") != std::string::npos);
    BOOST_TEST(fig.find("<desc id=") != std::string::npos);
  }
  BOOST_TEST(p9.find("&gt; 2.5 mg/dL excludes (E-SLN") != std::string::npos);
  BOOST_TEST(test::count_of(dom, "<g class=\"step\"") == test::nct().criteria.size() + 1);

  // Filter and sort state in the fragment: only possible candidates with E-SLN to check next, by score
  // ascending.
  std::vector<const ranking::PatientOutcome*> want;
  for (const auto& o : test::demo().outcomes)
    if (o.tier == ranking::Tier::possible)
      for (const auto& c : o.check_next)
        if (c.rfind("E-SLN:", 0) == 0) want.push_back(&o);
  std::stable_sort(want.begin(), want.end(), [](auto* x, auto* y) { return x->score < y->score; });
  BOOST_TEST(want.size() > 1u);
  const Browser filtered =
      chromium(f.page, "#tier=possible&check=E-SLN&sort=score&dir=asc", "--dump-dom", "filtered");
  BOOST_TEST(filtered.out.find(std::to_string(want.size()) + " of 36 candidates shown") != std::string::npos);
  std::vector<std::string> visible, expected;
  for (const auto& r : test::candidate_rows(filtered.out))
    if (!r.hidden) visible.push_back(r.patient);
  for (const auto* o : want) expected.push_back(o->patient_id);
  BOOST_TEST(visible == expected, boost::test_tools::per_element());
  BOOST_TEST(test::count_of(filtered.out, "aria-sort=\"ascending\"><button") == 1u);

  // Screenshots for a human to look at: the top of the page, and rank 1's panel opened. (Headless chromium
  // paints only the top of the document, so the panel is shot from a copy that moves it there.)
  BOOST_TEST(
      chromium(f.page, "", "--screenshot='" + (artefacts() / "report.png").string() + "'", "shot").status ==
      0);
  BOOST_TEST(fs::file_size(artefacts() / "report.png") > 20000u);
  std::string copy = without_csp(html);
  copy.replace(copy.rfind("</body>"), 7,
               "<script>var d = document.getElementById('pt-1'); d.open = true;"
               " document.querySelector('main').prepend(d);</script></body>");
  std::ofstream(artefacts() / "patient.html", std::ios::binary) << copy;
  BOOST_TEST(chromium(fs::absolute(artefacts() / "patient.html"), "",
                      "--screenshot='" + (artefacts() / "patient.png").string() + "'", "shot-pt")
                 .status == 0);

  const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  BOOST_TEST_MESSAGE("browser test: " << secs << " s; artefacts in " << artefacts().string());
  BOOST_TEST(secs < 60);
}

// The charts really lay out: a copy of the page with a probe script (and without the CSP that would block it)
// measures every chart and threshold line after layout.
BOOST_AUTO_TEST_CASE(charts_lay_out, *boost::unit_test::precondition(HasChromium())) {
  Fixture f;
  std::string html = without_csp(test::read_text(f.page));
  const std::string probe = R"(<script>(function () {
  document.querySelectorAll('details.patient').forEach(function (d) { d.open = true; });
  var charts = document.querySelectorAll('svg.trend, svg.funnel'), ok = 0, lines = 0, long = 0;
  charts.forEach(function (s) { var r = s.getBoundingClientRect(); if (r.width > 200 && r.height > 100) ok++; });
  document.querySelectorAll('svg.trend line.threshold').forEach(function (l) {
    lines++; if (l.getBoundingClientRect().width > 150) long++; });
  document.body.setAttribute('data-probe', charts.length + '/' + ok + '/' + lines + '/' + long);
})();</script></body>)";
  html.replace(html.rfind("</body>"), 7, probe);
  const fs::path page = fs::absolute(artefacts() / "probe.html");
  std::ofstream(page, std::ios::binary) << html;
  const Browser b = chromium(page, "", "--dump-dom", "probe");
  const auto at = b.out.find("data-probe=\"");
  BOOST_TEST_REQUIRE(at != std::string::npos, "the probe ran");
  const std::string probe_result = b.out.substr(at + 12, b.out.find('"', at + 12) - at - 12);
  const auto n = split(probe_result, '/');
  BOOST_TEST_REQUIRE(n.size() == 4u);
  const std::string charts(n[0]), laid_out(n[1]), lines(n[2]), drawn(n[3]);
  BOOST_TEST_MESSAGE("charts laid out: " << laid_out << " of " << charts
                                         << "; threshold lines drawn: " << drawn << " of " << lines);
  BOOST_TEST(std::stoul(charts) > 60u);
  BOOST_TEST(laid_out == charts);
  BOOST_TEST(std::stoul(lines) > 20u);
  BOOST_TEST(drawn == lines);
}

// The network check can fail: a page that loads an image is caught (guards against a NetLog format change).
BOOST_AUTO_TEST_CASE(network_check_detects_a_request, *boost::unit_test::precondition(HasChromium())) {
  const fs::path page = fs::absolute(artefacts() / "control.html");
  std::ofstream(page) << "<!DOCTYPE html><p>control</p><img src=\"https://example.invalid/x.png\">";
  const Browser b = chromium(page, "", "--dump-dom", "control");
  BOOST_TEST(page_requests(b.netlog) >= 1u);
}
