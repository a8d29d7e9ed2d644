#include "core/secret_file.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace cf {

namespace {
constexpr off_t max_secret_bytes = 1 << 20;

struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};
}  // namespace

Result<std::string> read_secret_file(const std::filesystem::path& file, std::string_view what) {
  const std::string context = std::string(what) + " " + file.string();
  Fd f{::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY)};
  if (f.fd < 0) return make_error(std::string("cannot open it: ") + std::strerror(errno), context);
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return make_error(std::string("cannot read it: ") + std::strerror(errno), context);
  if (!S_ISREG(st.st_mode)) return make_error("is not a regular file", context);
  const bool group_read_own = (st.st_mode & S_IRWXG) == S_IRGRP && st.st_gid == ::getegid();
  if ((st.st_mode & S_IRWXO) != 0 || ((st.st_mode & S_IRWXG) != 0 && !group_read_own))
    return make_error(
        "can be read or changed by other users: chmod 600 it (440 if the group is the run's own)", context);
  if (st.st_size > max_secret_bytes) return make_error("is larger than 1 MiB: not a secret", context);
  std::string content(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = ::read(f.fd, content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(std::string("cannot read it: ") + std::strerror(errno), context);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  content.resize(got);
  return content;
}

}  // namespace cf
