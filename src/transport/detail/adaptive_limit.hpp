#pragma once
// RELIABILITY T12: how many requests may be in flight to one origin at once. It starts at the configured
// number, halves when the origin answers 429 or 503 (once per wave: only an answer to a request sent under
// the current limit lowers it again), and grows back by one after 8 x limit answers in a row without either.
// A raise that draws a 429 or 503 again is a failed probe; after two, the limit stays where it is for the
// rest of the run, so a server that takes one request at a time sees at most two more 429s once the client
// has learnt that. Five parallel downloads of many small Bulk files drew 429 storms from a production EHR:
// backing off each request alone does not stop the storm.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace cf::transport::detail {

class AdaptiveLimit {
 public:
  explicit AdaptiveLimit(std::size_t max_per_origin) : max_(max_per_origin < 1 ? 1 : max_per_origin) {}

  struct Ticket {
    std::string origin;
    std::uint64_t generation = 0;  // the limit's generation when the request was let through
  };
  enum class Answer { ok, overloaded, neither };  // overloaded: 429 or 503; neither: other statuses, failures

  // Waits until fewer requests than the origin's current limit are in flight. No deadline: every request in
  // flight has its own, so a slot always comes free.
  Ticket acquire(const std::string& origin);
  // Frees the slot and adapts the limit to the answer. Returns the new limit when it changed, else 0.
  std::size_t release(const Ticket& ticket, Answer answer);
  std::size_t limit(const std::string& origin);

 private:
  struct Origin {
    std::size_t limit = 0, in_flight = 0, calm = 0;  // calm: answers in a row that were not overloaded
    std::uint64_t generation = 0;
    bool raised_last = false;  // the last change was a raise (a probe)
    int failed_probes = 0;
  };
  Origin& state(const std::string& origin);  // with mutex_ held
  const std::size_t max_;
  std::mutex mutex_;
  std::condition_variable freed_;
  std::map<std::string, Origin> origins_;
};

}  // namespace cf::transport::detail
