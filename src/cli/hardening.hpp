#pragma once
// What the process does to itself before touching patient data (RELIABILITY H3, H4).
#include <string>
#include <vector>

namespace cf::cli {

// No core dumps (memory holds patient data, tokens and keys): RLIMIT_CORE 0 and not dumpable, which also
// keeps other processes of the same user from attaching a debugger or reading /proc/PID/mem. And umask 077,
// so that every file and folder the run creates is private even where a path forgets to say so. Returns a
// warning for each step the system refused (the run goes on: none of them is needed for correct output).
std::vector<std::string> harden_process();

}  // namespace cf::cli
