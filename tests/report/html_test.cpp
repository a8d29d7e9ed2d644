// report.html without a browser: escaping of hostile patient data, the Content-Security-Policy hashes, no URL
// that could reach the network, the funnel against attrition.csv, what each export mode shows, and the SVG
// charts.
#include <boost/test/unit_test.hpp>

#include "core/text.hpp"
#include "demo.hpp"
#include "report/html_report.hpp"

using namespace cf;

namespace {

std::string base64(const std::string& b) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < b.size(); i += 3) {
    unsigned v = static_cast<unsigned>(static_cast<unsigned char>(b[i])) << 16;
    if (i + 1 < b.size()) v |= static_cast<unsigned>(static_cast<unsigned char>(b[i + 1])) << 8;
    if (i + 2 < b.size()) v |= static_cast<unsigned char>(b[i + 2]);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < b.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < b.size() ? k[v & 63] : '=';
  }
  return out;
}

std::string between(const std::string& s, const std::string& open, const std::string& close) {
  const auto a = s.find(open);
  if (a == std::string::npos) return {};
  const auto b = s.find(close, a + open.size());
  return s.substr(a + open.size(), b - a - open.size());
}

std::string identified_report() {
  static const std::string html = report::html_report(test::nct(), test::demo().info, test::demo().outcomes,
                                                      report::ExportMode::identified);
  return html;
}

}  // namespace

BOOST_AUTO_TEST_CASE(escaping_covers_text_and_attributes) {
  BOOST_TEST(report::escape_html("<script>alert('x')&\"</script>") ==
             "&lt;script&gt;alert(&#39;x&#39;)&amp;&quot;&lt;/script&gt;");
  BOOST_TEST(report::escape_html("a\x01"
                                 "b\x1b[31mc\rd\x7f") == "ab[31mcd");
  BOOST_TEST(report::escape_html("tab\tline\n") == "tab\tline\n");
  BOOST_TEST(report::escape_html("系统性红斑狼疮 µmol/L") == "系统性红斑狼疮 µmol/L");
  BOOST_TEST(report::shorten_utf8("系统性红斑狼疮", 3) == "系统性\xE2\x80\xA6");
  BOOST_TEST(report::shorten_utf8("abc", 3) == "abc");
}

BOOST_AUTO_TEST_CASE(hostile_patient_data_stays_text) {
  auto outcomes = test::demo().outcomes;
  auto& o = outcomes.front();
  o.patient_id = "\"><script>alert(1)</script>";
  o.name = "<img src=x onerror=alert(1)>";
  o.results[1].reason = "</td></tr></table><iframe src=\"javascript:alert(1)\">";
  o.results[1].evidence.push_back({"Observation/x\" onmouseover=\"alert(1)", "1", "", "", "", "", "", false,
                                   "' onfocus='alert(1)", "", "", "", "<b>note</b>"});
  o.check_next.push_back("E-SLN: <style>body{display:none}</style>");
  o.key_values.push_back({"creatinine", "<svg onload=alert(1)>", "2026-11-01", "Observation/y"});
  o.series.push_back({"creatinine", 20000, 1.0, "<", "<u>mg</u>", "Observation/\"z"});
  const std::string html =
      report::html_report(test::nct(), test::demo().info, outcomes, report::ExportMode::identified);
  BOOST_TEST(test::count_of(html, "<script") == 1u, "only the page's own script");
  BOOST_TEST(test::count_of(html, "<style") == 1u, "only the page's own style sheet");
  for (const char* bad :
       {"<img", "<iframe", "<svg onload", "<b>note", "<u>mg", "\" onmouseover", "' onfocus"})
    BOOST_TEST(html.find(bad) == std::string::npos, bad);
  BOOST_TEST(html.find("&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
  BOOST_TEST(html.find("data-patient=\"&quot;&gt;&lt;script&gt;") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(the_policy_allows_exactly_the_page_script_and_style) {
  const std::string html = identified_report();
  const std::string csp = between(html, "<meta http-equiv=\"Content-Security-Policy\" content=\"", "\"");
  BOOST_TEST(csp.find("default-src &#39;none&#39;") == 0u);
  const std::string script = between(html, "<script>", "</script>"),
                    style = between(html, "<style>", "</style>");
  BOOST_TEST(csp.find("script-src &#39;sha256-" + base64(report::sha256_digest(script)) + "&#39;") !=
             std::string::npos);
  BOOST_TEST(csp.find("style-src &#39;sha256-" + base64(report::sha256_digest(style)) + "&#39;") !=
             std::string::npos);
  BOOST_TEST(html.find(" style=\"") == std::string::npos,
             "no inline style attribute (the policy would block it)");
  BOOST_TEST(!test::has_inline_handler(html), "no inline event handler");
}

BOOST_AUTO_TEST_CASE(nothing_points_at_the_network) {
  const std::string html = identified_report();
  BOOST_TEST(test::network_reference(html) == "");
  // The scanners do find what they look for.
  BOOST_TEST(test::network_reference("<img src='//cdn.example/x.png'>") != "");
  BOOST_TEST(test::network_reference("<a HREF = \"https://example.org\">") != "");
  BOOST_TEST(test::network_reference("<style>b{background:url( 'http://x/y')}</style>") != "");
  BOOST_TEST(test::has_inline_handler("<svg onload=\"x()\">"));
  for (auto p = html.find("url("); p != std::string::npos; p = html.find("url(", p + 1))
    BOOST_TEST(html[p + 4] == '#', "url() only for #fragments: " << html.substr(p, 40));
  BOOST_TEST(html.find("@import") == std::string::npos);
  BOOST_TEST(html.find("<link") == std::string::npos);
  BOOST_TEST(html.find("<img") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(funnel_mirrors_attrition_csv) {
  const auto& run = test::demo();
  const auto steps = report::funnel_steps(test::nct(), run.outcomes);
  std::istringstream csv(report::attrition_csv(test::nct(), run.outcomes));
  std::string line;
  std::getline(csv, line);  // header
  std::size_t i = 0;
  while (std::getline(csv, line)) {
    // The last two fields: removed_in_order, remaining_after.
    auto fields = split(trim(line), ',');
    BOOST_TEST_REQUIRE(i < steps.size());
    BOOST_TEST(std::to_string(steps[i].removed) == fields[fields.size() - 2], steps[i].id);
    BOOST_TEST(std::to_string(steps[i].before - steps[i].removed) == fields.back(), steps[i].id);
    ++i;
  }
  BOOST_TEST(i == steps.size());
  BOOST_TEST(steps.back().before - steps.back().removed == 36u);
}

BOOST_AUTO_TEST_CASE(summary_banner_and_modes) {
  const auto& run = test::demo();
  const std::string id = identified_report();
  for (const auto& [tier, n] : {std::pair{"eligible", "14"}, {"possible", "22"}, {"ineligible", "29"}})
    BOOST_TEST(id.find("data-tier-count=\"" + std::string(tier) + "\"><span class=\"n\">" + n + "<") !=
                   std::string::npos,
               tier);
  BOOST_TEST(id.find("<b>Not recovered:</b> I7, I8 and most") != std::string::npos);
  BOOST_TEST(id.find("A-HBV, A-HIV, A-MAL, A-PREG, A-LAB") != std::string::npos);
  BOOST_TEST(id.find("unit-unconvertible") != std::string::npos);
  // Evidence resting on codes written from memory is counted in the banner, by rule.
  BOOST_TEST(id.find("<b>Codes not yet verified</b>") != std::string::npos);
  BOOST_TEST(id.find("concepts.json creatinine: loinc 2160-0 (") != std::string::npos);
  BOOST_TEST(id.find("concepts.json creatinine: loinc 14682-9 (") == std::string::npos);
  BOOST_TEST(id.find(test::nct().version) != std::string::npos);
  BOOST_TEST(id.find("Synthetic, Case 009") != std::string::npos, "identified shows names");
  BOOST_TEST(test::count_of(id, "<tr data-patient=") == 29u, "identified lists the ineligible, collapsed");

  const auto lim = report::apply_privacy(run.outcomes, report::ExportMode::limited, nullptr);
  const std::string l = report::html_report(test::nct(), run.info, lim, report::ExportMode::limited);
  BOOST_TEST(l.find("Synthetic, Case") == std::string::npos);
  BOOST_TEST(test::count_of(l, "<tr data-patient=") == 0u);
  BOOST_TEST(l.find("cc-009") != std::string::npos);
  // Ineligible patients appear only as counts: none of their ids is in the page.
  for (const auto& o : run.outcomes)
    if (o.tier == ranking::Tier::ineligible)
      BOOST_TEST(l.find("\"" + o.patient_id + "\"") == std::string::npos, o.patient_id);

  // A de-identified page from outcomes that were not de-identified is refused, not written.
  const std::string refused =
      report::html_report(test::nct(), run.info, run.outcomes, report::ExportMode::deidentified);
  BOOST_TEST(refused.find("not written") != std::string::npos);
  BOOST_TEST(refused.find("cc-0") == std::string::npos);
}

namespace {

// A creatinine chart as of 2026-11-26 with the E-SLN threshold and no points yet.
report::svg::TrendChart creatinine_chart(const std::string& id) {
  report::svg::TrendChart c;
  c.id = id;
  c.title = "Serum creatinine";
  c.unit = "mg/dL";
  c.as_of = *parse_iso_day("2026-11-26");
  c.threshold = report::svg::Threshold{2.5, ">", "> 2.5 mg/dL excludes"};
  return c;
}

}  // namespace

BOOST_AUTO_TEST_CASE(trend_chart_draws_points_threshold_and_window) {
  report::svg::TrendChart c = creatinine_chart("t1");
  for (auto [d, v, cmp] : {std::tuple{"2026-01-05", 0.8, ""},
                           {"2026-04-01", 3.1, ""},
                           {"2026-07-01", 0.2, "<"},
                           {"2026-10-20", 1.4, ""}})
    c.points.push_back({*parse_iso_day(d), v, cmp, "Observation/o"});
  c.window_from = c.as_of - 56;
  c.window_label = "8-week window";
  const std::string s = report::svg::trend_chart(c);
  BOOST_TEST(s.find("<title id=\"t1-t\">") != std::string::npos);
  BOOST_TEST(s.find("4 result(s) from 2026-01-05 to 2026-10-20") != std::string::npos);
  BOOST_TEST(s.find("2026-04-01 3.1 (beyond threshold)") != std::string::npos,
             "the text alternative names it");
  BOOST_TEST(test::count_of(s, "class=\"pt bad\"") == 1u, "a triangle for the value beyond the threshold");
  BOOST_TEST(test::count_of(s, "class=\"pt\"") == 3u);
  BOOST_TEST(test::count_of(s, "fill=\"#FFFFFF\"") == 1u, "hollow for '<0.2'");
  BOOST_TEST(test::count_of(s, "class=\"threshold\"") == 1u);
  BOOST_TEST(test::count_of(s, "class=\"window\"") == 1u);
  c.points.clear();
  BOOST_TEST(report::svg::trend_chart(c).empty());
}

BOOST_AUTO_TEST_CASE(censored_and_extreme_points_are_marked_only_when_certain) {
  report::svg::TrendChart c = creatinine_chart("t2");
  // "<3" may lie either side of 2.5: not beyond; ">3" is; "<2" is not.
  for (auto [d, v, cmp] :
       {std::tuple{"2026-01-05", 3.0, "<"}, {"2026-04-01", 3.0, ">"}, {"2026-07-01", 2.0, "<"}})
    c.points.push_back({*parse_iso_day(d), v, cmp, "Observation/o"});
  std::string s = report::svg::trend_chart(c);
  BOOST_TEST(s.find("2026-01-05 &lt;3;") != std::string::npos);
  BOOST_TEST(s.find("2026-04-01 &gt;3 (beyond threshold)") != std::string::npos);
  BOOST_TEST(test::count_of(s, "class=\"pt bad\"") == 1u);
  // A value near the double's limit is left out rather than breaking the axis into -inf coordinates.
  c.points.push_back({*parse_iso_day("2026-08-01"), 1.7e308, "", "Observation/huge"});
  s = report::svg::trend_chart(c);
  BOOST_TEST(s.find("inf") == std::string::npos);
  BOOST_TEST(s.find("nan") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(patient_panels_show_series_in_their_own_units) {
  // Two anti-dsDNA kits in different units get two charts; creatinine gets its threshold, anti-dsDNA none.
  auto outcomes = test::demo().outcomes;
  auto& o = outcomes.front();
  o.series.push_back({"anti_dsdna", *parse_iso_day("2026-03-01"), 40, "", "U/mL", "Observation/k2"});
  const std::string html =
      report::html_report(test::nct(), test::demo().info, outcomes, report::ExportMode::identified);
  BOOST_TEST(test::count_of(
                 html.substr(html.find("id=\"pt-1\""), html.find("id=\"pt-2\"") - html.find("id=\"pt-1\"")),
                 "<figure data-concept=\"anti_dsdna\"") == 2u);
}

// The score's header says how the score is made, from the trial definition's weights.
BOOST_AUTO_TEST_CASE(the_score_header_says_how_the_score_is_made) {
  const std::string html = identified_report();
  BOOST_TEST(
      html.find("data-key=\"score\" title=\"10000 per criterion in favour + 100 per SLEDAI-2K point + 1 per "
                "EULAR/ACR point + up to 0.99 for recent key results\"") != std::string::npos);
}
