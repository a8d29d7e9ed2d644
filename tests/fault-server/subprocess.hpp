#pragma once
// Child processes for tests: the fault server (long-running, stopped by the fixture) and one-shot commands
// (openssl). Test helpers report failures by throwing; Boost.Test turns that into a failed test.
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace cf::testing {

// Started with a pipe on its stdin and one on its stdout. The fault server exits when its stdin closes, and
// the child is also killed by the kernel if the test process dies (PR_SET_PDEATHSIG), so no process is left
// behind.
class Subprocess {
 public:
  explicit Subprocess(const std::vector<std::string>& argv);
  ~Subprocess();  // closes stdin, SIGTERM, waits up to 2 s, then SIGKILL; always reaps the child
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // One line from the child's stdout, without the newline; throws after `timeout` or at EOF.
  std::string read_line(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
};

// Runs a command to completion with stdout and stderr appended to `log_file`; returns its exit status.
int run_command(const std::vector<std::string>& argv, const std::string& log_file);

}  // namespace cf::testing
