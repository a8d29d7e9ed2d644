#include "criteria/window.hpp"

namespace cf::criteria {

Days Window::start(Days as_of) const {
  switch (unit) {
    case Unit::ever:
      return days_from_civil(1, 1, 1);
    case Unit::days:
      return as_of - n;
    case Unit::weeks:
      return as_of - 7 * n;
    case Unit::months:
      return add_months(as_of, -n);
    case Unit::years:
      return add_months(as_of, -12 * n);
  }
  return as_of;
}

std::string Window::describe() const {
  const char* u = unit == Unit::days     ? " days"
                  : unit == Unit::weeks  ? " weeks"
                  : unit == Unit::months ? " months"
                                         : " years";
  return unit == Unit::ever ? "ever" : "last " + std::to_string(n) + u;
}

Placement place(const PartialDate& d, const Window& w, Days as_of) {
  const Days lo = w.start(as_of);
  if (d.first > as_of) return Placement::after;
  if (d.last > as_of) return Placement::straddles;
  if (w.unit == Window::Unit::ever) return Placement::inside;
  if (d.last < lo) return Placement::before;
  if (d.first < lo) return Placement::straddles;
  return Placement::inside;
}

}  // namespace cf::criteria
