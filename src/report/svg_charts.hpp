#pragma once
// Inline SVG charts for the HTML report, drawn in C++ so the report needs no script or library to show them.
// Every chart carries <title>/<desc> text alternatives, and never encodes meaning in colour alone: the
// Okabe-Ito palette (safe for the common colour-vision deficiencies) is always paired with a shape, a dash
// pattern or text.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/date.hpp"

namespace cf::report {

// Text for HTML/SVG element content and double-quoted attribute values: & < > " ' become entities, control
// characters (other than tab and newline) are dropped. Patient data is untrusted: every string goes through
// this.
std::string escape_html(std::string_view s);

// At most `max` code points of UTF-8 text, with "…" when shortened (never splits a multi-byte character).
std::string shorten_utf8(std::string_view s, std::size_t max);

namespace svg {

// Okabe & Ito (2008) colours.
inline constexpr const char* kBlue = "#0072B2";
inline constexpr const char* kVermillion = "#D55E00";
inline constexpr const char* kOrange = "#E69F00";
inline constexpr const char* kGrey = "#6B7280";

struct Threshold {
  double value = 0;
  std::string op;     // ">" or "<": which side is against the patient
  std::string label;  // "> 2.5 mg/dL (E-SLN)"
};

struct Point {
  Days day = 0;
  double value = 0;
  std::string comparator;  // as reported: "<0.2" is drawn hollow
  std::string resource;
};

struct TrendChart {
  std::string id;  // unique within the page (aria references)
  std::string title;
  std::string unit;
  std::vector<Point> points;  // by day
  std::optional<Threshold> threshold;
  std::optional<Days> window_from;  // shaded [window_from, as_of]
  std::string window_label;
  Days as_of = 0;
  std::string note;  // appended to the text alternative
};

// A line chart of one analyte over time; "" when there are no points.
std::string trend_chart(const TrendChart& c);

// One row of the attrition funnel, in definition order.
struct FunnelStep {
  std::string id;
  std::string label;
  std::string kind;  // "inclusion", "exclusion", "built-in"
  bool analogue = false;
  std::size_t before = 0;     // candidates still in when the step is applied
  std::size_t removed = 0;    // of those, removed here
  std::size_t undecided = 0;  // of those, left unknown here
  std::size_t manual = 0;     // of those, left to manual review here
};

// Horizontal bars: who remains after each step, who the step removed, who it left undecided.
std::string funnel_chart(const std::string& id, const std::vector<FunnelStep>& steps, std::size_t total);

}  // namespace svg
}  // namespace cf::report
