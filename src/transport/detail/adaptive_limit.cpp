#include "transport/detail/adaptive_limit.hpp"

namespace cf::transport::detail {

AdaptiveLimit::Origin& AdaptiveLimit::state(const std::string& origin) {
  Origin& o = origins_[origin];
  if (o.limit == 0) o.limit = max_;
  return o;
}

AdaptiveLimit::Ticket AdaptiveLimit::acquire(const std::string& origin) {
  std::unique_lock lock(mutex_);
  Origin& o = state(origin);
  freed_.wait(lock, [&] { return o.in_flight < o.limit; });
  ++o.in_flight;
  return {origin, o.generation};
}

std::size_t AdaptiveLimit::release(const Ticket& ticket, Answer answer) {
  std::size_t changed = 0;
  {
    std::lock_guard lock(mutex_);
    Origin& o = state(ticket.origin);
    --o.in_flight;
    if (answer == Answer::overloaded) {
      o.calm = 0;
      if (ticket.generation == o.generation && o.limit > 1) {
        if (o.raised_last) ++o.failed_probes;
        o.limit /= 2;
        ++o.generation;
        o.raised_last = false;
        changed = o.limit;
      }
    } else if (answer == Answer::ok && ++o.calm >= 8 * o.limit && o.limit < max_ && o.failed_probes < 2) {
      ++o.limit;
      ++o.generation;
      o.calm = 0;
      o.raised_last = true;
      changed = o.limit;
    }
  }
  freed_.notify_all();
  return changed;
}

std::size_t AdaptiveLimit::limit(const std::string& origin) {
  std::lock_guard lock(mutex_);
  return state(origin).limit;
}

}  // namespace cf::transport::detail
