#pragma once
// A stop asked for by SIGTERM or SIGINT (systemd stopping the unit, Kubernetes ending the pod, Ctrl-C).
// Most of a run has nothing to undo (outputs are renamed into place, the state store commits or not), so a
// signal ends the process at once, as without a handler. Only code that must take a last step before it
// stops holds a StopWatch (the Bulk export poll: the job would otherwise run on, on the server; RELIABILITY
// B4): while one is held, the signal is recorded instead, and that code sees stop_requested(). A second
// signal always ends the process.
#include <chrono>
#include <string>

namespace cf {

// Installs the SIGTERM and SIGINT handlers; call once, early in main().
void install_stop_handlers();

// Whether a stop signal arrived while a StopWatch was held.
bool stop_requested();
// "SIGTERM" or "SIGINT", empty when none arrived.
std::string stop_signal_name();

class StopWatch {
 public:
  StopWatch();
  ~StopWatch();
  StopWatch(const StopWatch&) = delete;
  StopWatch& operator=(const StopWatch&) = delete;
};

// Sleeps for `d`, waking within 50 ms of a stop request; false when it woke for one.
bool sleep_unless_stopped(std::chrono::milliseconds d);

}  // namespace cf
