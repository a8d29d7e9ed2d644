#include "core/stop_signal.hpp"

#include <atomic>
#include <csignal>
#include <thread>

namespace cf {

namespace {
std::atomic<int> watchers{0};
std::atomic<int> received{0};  // the signal number, once one arrived while watched
static_assert(std::atomic<int>::is_always_lock_free, "used from a signal handler");

extern "C" void on_stop_signal(int sig) {
  // Only async-signal-safe calls here: atomics, signal() and raise().
  if (watchers.load() == 0 || received.load() != 0) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  received.store(sig);
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

bool stop_requested() {
  return received.load() != 0;
}

std::string stop_signal_name() {
  switch (received.load()) {
    case 0:
      return {};
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "signal " + std::to_string(received.load());
  }
}

StopWatch::StopWatch() {
  watchers.fetch_add(1);
}
StopWatch::~StopWatch() {
  watchers.fetch_sub(1);
}

bool sleep_unless_stopped(std::chrono::milliseconds d) {
  constexpr std::chrono::milliseconds slice{50};
  const auto end = std::chrono::steady_clock::now() + d;
  while (!stop_requested()) {
    const auto left = end - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds::zero()) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, slice));
  }
  return false;
}

}  // namespace cf
