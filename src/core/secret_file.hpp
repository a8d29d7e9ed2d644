#pragma once
// Secrets (bearer token, basic-auth password, SMART private key, pseudonym key) come from files only
// (RELIABILITY H2): the environment is readable in /proc/PID/environ and inherited by every child, the
// command line is visible to every user in ps.
#include <filesystem>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cf {

// The content of a secret file, refused unless it is a regular file of at most 1 MiB that others cannot
// read or write. Group read is accepted only for the process's own effective group, without group write:
// that is how Kubernetes mounts a Secret for a pod with an fsGroup (0440); any other group access is refused.
// Symbolic links are followed (Kubernetes Secret volumes and systemd credentials use them).
Result<std::string> read_secret_file(const std::filesystem::path& file, std::string_view what);

}  // namespace cf
