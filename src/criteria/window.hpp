#pragma once
// Time windows that end on the as-of date ("within 8 weeks", "ever"), and where a possibly partial date
// falls.
#include <optional>
#include <string>

#include "core/date.hpp"
#include "terminology/values.hpp"

namespace cf::criteria {

struct Window {
  enum class Unit { ever, days, weeks, months, years } unit = Unit::ever;
  int n = 0;

  Days start(Days as_of) const;  // first day inside; meaningless for ever
  std::string describe() const;  // "ever", "8 weeks"
};

enum class Placement { inside, before, after, straddles };
// Where a date lies relative to [window start, as_of]. For `ever` only "after" (dated past the as-of date)
// matters.
Placement place(const PartialDate& d, const Window& w, Days as_of);

}  // namespace cf::criteria
