#include "report/svg_charts.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace cf::report {

std::string escape_html(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 16);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if ((c < 0x20 && ch != '\t' && ch != '\n') || c == 0x7f)
          break;  // CR, NUL, ESC...: never meaningful here
        out += ch;
    }
  }
  return out;
}

std::string shorten_utf8(std::string_view s, std::size_t max) {
  std::size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (points == max) return std::string(s.substr(0, i)) + "\xE2\x80\xA6";
    ++points;
  }
  return std::string(s);
}

namespace svg {

namespace {

std::string num(double v) {
  // As printf("%.1f") writes it (to_chars with a precision is specified so), without the format parsing: a
  // chart has hundreds of these.
  char buf[352];  // the longest double in fixed notation with one decimal fits
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 1);
  return std::string(buf, r.ptr);
}

std::string value_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A "nice" axis maximum and step (1, 2, 2.5 or 5 times a power of ten) with about four intervals.
void nice_axis(double hi, double& top, double& step) {
  if (!(hi > 0) || !std::isfinite(hi)) hi = 1;
  const double raw = hi / 4;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  top = std::ceil(hi / step - 1e-9) * step;
}

// Beyond the threshold for every value the point admits: "<3" against "> 2.5" may lie either side, so it is
// not marked; ">3" is.
bool against(const std::optional<Threshold>& t, const Point& p) {
  if (!t) return false;
  const double v = p.value, x = t->value;
  const std::string& c = p.comparator;
  if (t->op == ">") {
    if (c.empty() || c == ">=") return v > x;
    if (c == ">") return v >= x;
    return false;  // "<", "<=": could be anything below
  }
  if (t->op == "<") {
    if (c.empty() || c == "<=") return v < x;
    if (c == "<") return v <= x;
    return false;
  }
  return false;
}

}  // namespace

std::string trend_chart(const TrendChart& in) {
  TrendChart c = in;  // values a chart cannot place (inf, NaN) are left out rather than breaking the axis
  c.points.erase(
      std::remove_if(c.points.begin(), c.points.end(),
                     // (and near the double's limit, where the axis arithmetic overflows)
                     [](const Point& p) { return !std::isfinite(p.value) || std::abs(p.value) > 1e300; }),
      c.points.end());
  if (c.points.empty()) return {};
  constexpr double W = 360, H = 178, L = 48, R = 346, T = 24, B = 156;
  Days lo = c.points.front().day, hi = c.as_of;
  for (const auto& p : c.points) {
    lo = std::min(lo, p.day);
    hi = std::max(hi, p.day);
  }
  if (c.window_from) lo = std::min(lo, *c.window_from);
  const Days pad = std::max<Days>(3, (hi - lo) / 25);
  lo -= pad;
  hi += pad;
  double vmax = 0, vmin = 0;
  for (const auto& p : c.points) {
    vmax = std::max(vmax, p.value);
    vmin = std::min(vmin, p.value);
  }
  if (c.threshold) vmax = std::max(vmax, c.threshold->value * 1.2);
  double top = 0, step = 1;
  nice_axis(vmax * 1.08, top, step);  // headroom for the labels of the highest points
  const double bottom = vmin < 0 ? -std::ceil(-vmin / step) * step : 0;
  auto x = [&](Days d) { return L + (R - L) * static_cast<double>(d - lo) / static_cast<double>(hi - lo); };
  auto y = [&](double v) { return B - (B - T) * (v - bottom) / (top - bottom); };

  // Text alternative: what a sighted reader takes from the chart, in words.
  const auto& last = c.points.back();
  std::string desc = std::to_string(c.points.size()) + " result(s) from " + format_day(c.points.front().day) +
                     " to " + format_day(last.day) + "; latest " + last.comparator + value_text(last.value) +
                     " " + c.unit + " on " + format_day(last.day) + ".";
  if (c.threshold) desc += " Threshold line: " + c.threshold->label + ".";
  if (c.window_from)
    desc +=
        " Shaded: " + c.window_label + ", " + format_day(*c.window_from) + " to " + format_day(c.as_of) + ".";
  std::size_t listed = 0;
  desc += " Values:";
  for (const auto& p : c.points) {
    if (++listed > 24) {
      desc += " ...";
      break;
    }
    desc += " " + format_day(p.day) + " " + p.comparator + value_text(p.value) +
            (against(c.threshold, p) ? " (beyond threshold)" : "") + ";";
  }
  if (!c.note.empty()) desc += " " + c.note;

  std::string s = "<svg class=\"trend\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + num(W) + " " +
                  num(H) + "\" width=\"" + num(W) + "\" height=\"" + num(H) +
                  "\" role=\"img\" aria-labelledby=\"" + c.id + "-t " + c.id + "-d\">";
  s += "<title id=\"" + c.id + "-t\">" + escape_html(c.title + " (" + c.unit + ") over time") + "</title>";
  s += "<desc id=\"" + c.id + "-d\">" + escape_html(desc) + "</desc>";
  if (c.window_from) {
    const double wx = std::max(L, x(*c.window_from)), ww = x(c.as_of) - wx;
    s += "<rect class=\"window\" x=\"" + num(wx) + "\" y=\"" + num(T) + "\" width=\"" + num(ww) +
         "\" height=\"" + num(B - T) + "\" fill=\"#E8EEF6\" stroke=\"#9DB3CC\" stroke-dasharray=\"2 2\"/>";
    const std::string label = ww >= 110  ? c.window_label
                              : ww >= 24 ? "8 wk"
                                         : "";  // the legend says the rest
    if (!label.empty())
      s += "<text x=\"" + num(wx + 3) + "\" y=\"" + num(B - 4) + "\" font-size=\"9\" fill=\"#3D5A80\">" +
           escape_html(label) + "</text>";
  }
  // Horizontal grid with value labels, then the time axis: first result, midpoint, as-of date.
  for (double v = bottom; v <= top + step / 2 && v - bottom <= 12 * step; v += step) {
    s += "<line x1=\"" + num(L) + "\" x2=\"" + num(R) + "\" y1=\"" + num(y(v)) + "\" y2=\"" + num(y(v)) +
         "\" stroke=\"#E5E7EB\"/><text x=\"" + num(L - 4) + "\" y=\"" + num(y(v) + 3) +
         "\" font-size=\"9\" text-anchor=\"end\" fill=\"#4B5563\">" +
         value_text(std::fabs(v) < step / 1e6 ? 0 : v) + "</text>";
  }
  s += "<line x1=\"" + num(L) + "\" x2=\"" + num(R) + "\" y1=\"" + num(B) + "\" y2=\"" + num(B) +
       "\" stroke=\"#6B7280\"/>";
  s += "<text x=\"" + num(L - 4) + "\" y=\"" + num(T - 10) + "\" font-size=\"9\" fill=\"#4B5563\">" +
       escape_html(c.unit) + "</text>";
  double last_tick = -1e9;
  for (Days d : {c.as_of, lo + pad, lo + pad + (c.as_of - lo - pad) / 2}) {
    if (d != c.as_of && (std::fabs(x(d) - x(c.as_of)) < 80 || std::fabs(x(d) - last_tick) < 80)) continue;
    const char* anchor = d == c.as_of ? "end" : d == lo + pad ? "start" : "middle";
    s += "<line x1=\"" + num(x(d)) + "\" x2=\"" + num(x(d)) + "\" y1=\"" + num(B) + "\" y2=\"" + num(B + 4) +
         "\" stroke=\"#6B7280\"/><text x=\"" + num(x(d)) + "\" y=\"" + num(B + 15) +
         "\" font-size=\"9\" text-anchor=\"" + anchor + "\" fill=\"#4B5563\">" + format_day(d) + "</text>";
    if (d != c.as_of) last_tick = x(d);
  }
  s += "<line class=\"as-of\" x1=\"" + num(x(c.as_of)) + "\" x2=\"" + num(x(c.as_of)) + "\" y1=\"" + num(T) +
       "\" y2=\"" + num(B) + "\" stroke=\"#374151\" stroke-dasharray=\"1 2\"/>";
  if (c.threshold) {
    // The line across the plot, its label in the strip above it (never on top of a data label).
    const double ty = y(c.threshold->value);
    s += "<line class=\"threshold\" x1=\"" + num(L) + "\" x2=\"" + num(R) + "\" y1=\"" + num(ty) +
         "\" y2=\"" + num(ty) + "\" stroke=\"" + kVermillion +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/>";
    s += "<line x1=\"" + num(L + 50) + "\" x2=\"" + num(L + 68) + "\" y1=\"" + num(T - 13) + "\" y2=\"" +
         num(T - 13) + "\" stroke=\"" + kVermillion +
         "\" stroke-width=\"1.5\" stroke-dasharray=\"6 3\"/><text class=\"threshold-label\" x=\"" +
         num(L + 72) + "\" y=\"" + num(T - 10) + "\" font-size=\"9.5\" fill=\"#A33F00\">" +
         escape_html(c.threshold->label) + "</text>";
  }
  std::string line;
  for (const auto& p : c.points) line += (line.empty() ? "" : " ") + num(x(p.day)) + "," + num(y(p.value));
  s += "<polyline points=\"" + line + "\" fill=\"none\" stroke=\"" + kBlue + "\" stroke-width=\"1.5\"/>";
  for (const auto& p : c.points) {
    const double px = x(p.day), py = y(p.value);
    const bool bad = against(c.threshold, p);
    const bool censored = !p.comparator.empty();  // "<0.2": the true value is not known
    const std::string tip =
        "<title>" +
        escape_html(format_day(p.day) + ": " + p.comparator + value_text(p.value) + " " + c.unit +
                    (bad ? " (beyond threshold)" : "") + (p.resource.empty() ? "" : ", " + p.resource)) +
        "</title>";
    const std::string fill = censored ? "#FFFFFF" : bad ? kVermillion : kBlue;
    const std::string stroke = bad ? kVermillion : kBlue;
    if (bad)  // a triangle, not only another colour
      s += "<path class=\"pt bad\" d=\"M" + num(px) + "," + num(py - 5) + " L" + num(px + 4.5) + "," +
           num(py + 3.5) + " L" + num(px - 4.5) + "," + num(py + 3.5) + " Z\" fill=\"" + fill +
           "\" stroke=\"" + stroke + "\">" + tip + "</path>";
    else
      s += "<circle class=\"pt\" cx=\"" + num(px) + "\" cy=\"" + num(py) + "\" r=\"3.5\" fill=\"" + fill +
           "\" stroke=\"" + stroke + "\" stroke-width=\"1.5\">" + tip + "</circle>";
    if (bad || &p == &c.points.back())
      s += "<text x=\"" + num(px + 6) + "\" y=\"" + num(py - 5) +
           "\" font-size=\"9.5\" font-weight=\"600\" fill=\"" + (bad ? "#A33F00" : "#1F2937") + "\">" +
           escape_html(p.comparator + value_text(p.value)) + "</text>";
  }
  s += "</svg>";
  return s;
}

std::string funnel_chart(const std::string& id, const std::vector<FunnelStep>& steps, std::size_t total) {
  constexpr double W = 1080, row = 24, top = 34, label_w = 330, bar_x = 340, bar_w = 400, text_x = 752;
  const double H = top + row * static_cast<double>(steps.size()) + 8;
  const double scale = total ? bar_w / static_cast<double>(total) : 0;
  std::string desc = "Attrition in definition order, starting from " + std::to_string(total) + " patients.";
  for (const auto& st : steps)
    desc += " " + st.id + ": " + std::to_string(st.removed) + " removed, " + std::to_string(st.undecided) +
            " undecided, " + std::to_string(st.before - st.removed) + " remain.";
  std::string s = "<svg class=\"funnel\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + num(W) + " " +
                  num(H) + "\" role=\"img\" aria-labelledby=\"" + id + "-t " + id + "-d\">";
  s += "<title id=\"" + id +
       "-t\">Attrition funnel: patients removed or left undecided by each criterion</title>";
  s += "<desc id=\"" + id + "-d\">" + escape_html(desc) + "</desc>";
  s += "<defs><pattern id=\"" + id +
       "-hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" "
       "patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#F6D3BF\"/><line x1=\"0\" "
       "y1=\"0\" "
       "x2=\"0\" y2=\"6\" stroke=\"" +
       std::string(kVermillion) + "\" stroke-width=\"2.5\"/></pattern></defs>";
  // Legend: a swatch with a distinct fill pattern and a word for each series.
  s += "<rect x=\"" + num(bar_x) + "\" y=\"6\" width=\"14\" height=\"10\" fill=\"" + kBlue +
       "\"/><text x=\"" + num(bar_x + 18) + "\" y=\"15\" font-size=\"11\">remaining</text>";
  s += "<rect x=\"" + num(bar_x + 100) + "\" y=\"6\" width=\"14\" height=\"10\" fill=\"url(#" + id +
       "-hatch)\" stroke=\"" + kVermillion + "\"/><text x=\"" + num(bar_x + 118) +
       "\" y=\"15\" font-size=\"11\">removed by this criterion</text>";
  s += "<rect x=\"" + num(bar_x + 268) + "\" y=\"9\" width=\"14\" height=\"4\" fill=\"" + kOrange +
       "\"/><text x=\"" + num(bar_x + 286) + "\" y=\"15\" font-size=\"11\">undecided (unknown) here</text>";
  double yy = top;
  for (const auto& st : steps) {
    const std::size_t after = st.before - st.removed;
    const std::string label = st.kind == "built-in" ? st.label
                                                    : st.id + (st.analogue ? " \xE2\x97\x86" : "") + "  " +
                                                          shorten_utf8(st.label, 44);
    s +=
        "<g class=\"step\" data-step=\"" + escape_html(st.id) + "\"><title>" +
        escape_html(st.id + " (" + st.kind + (st.analogue ? ", analogue threshold" : "") + "): " + st.label) +
        "</title>";
    s += "<text x=\"" + num(label_w) + "\" y=\"" + num(yy + 12) + "\" font-size=\"11\" text-anchor=\"end\"" +
         (st.kind == "exclusion" ? " font-style=\"italic\"" : "") + ">" + escape_html(label) + "</text>";
    s += "<rect x=\"" + num(bar_x) + "\" y=\"" + num(yy + 2) + "\" width=\"" +
         num(scale * static_cast<double>(after)) + "\" height=\"12\" fill=\"" + kBlue + "\"/>";
    if (st.removed)
      s += "<rect x=\"" + num(bar_x + scale * static_cast<double>(after)) + "\" y=\"" + num(yy + 2) +
           "\" width=\"" + num(scale * static_cast<double>(st.removed)) + "\" height=\"12\" fill=\"url(#" +
           id + "-hatch)\" stroke=\"" + kVermillion + "\" stroke-width=\"0.8\"/>";
    if (st.undecided)
      s += "<rect x=\"" + num(bar_x) + "\" y=\"" + num(yy + 16) + "\" width=\"" +
           num(scale * static_cast<double>(st.undecided)) + "\" height=\"4\" fill=\"" + kOrange + "\"/>";
    std::string t = st.removed ? "\xE2\x88\x92" + std::to_string(st.removed) + " removed" : "none removed";
    if (st.undecided) t += " \xC2\xB7 " + std::to_string(st.undecided) + " undecided";
    if (st.manual && st.manual == st.before)
      t += " \xC2\xB7 manual review for all";
    else if (st.manual)
      t += " \xC2\xB7 " + std::to_string(st.manual) + " manual";
    t += " \xC2\xB7 " + std::to_string(after) + " left";
    s += "<text x=\"" + num(text_x) + "\" y=\"" + num(yy + 12) + "\" font-size=\"11\"" +
         (st.removed ? " font-weight=\"600\"" : "") + ">" + escape_html(t) + "</text></g>";
    yy += row;
  }
  s += "</svg>";
  return s;
}

}  // namespace svg
}  // namespace cf::report
