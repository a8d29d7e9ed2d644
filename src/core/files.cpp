#include "core/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cf {

Status write_file_atomic(const std::filesystem::path& path, std::string_view content) {
  const std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(std::string("cannot create: ") + std::strerror(errno), tmp);
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(std::string("cannot write: ") + std::strerror(e), tmp);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return make_error(std::string("cannot flush: ") + std::strerror(errno), tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return make_error(std::string("cannot rename into place: ") + std::strerror(e), path.string());
  }
  return Status::success();
}

Result<std::unique_ptr<AtomicFile>> AtomicFile::create(const std::filesystem::path& path) {
  std::string tmp = path.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(std::string("cannot create: ") + std::strerror(errno), tmp);
  return std::unique_ptr<AtomicFile>(new AtomicFile(fd, std::move(tmp), path));
}

AtomicFile::~AtomicFile() {
  if (done_) return;
  ::close(fd_);
  ::unlink(tmp_.c_str());
}

Status AtomicFile::flush() {
  const char* p = buf_.data();
  std::size_t left = buf_.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed_ = true;
      error_ = make_error(std::string("cannot write: ") + std::strerror(errno), tmp_);
      return error_;
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  buf_.clear();
  return Status::success();
}

Status AtomicFile::write(std::string_view data) {
  if (failed_) return error_;
  buf_.append(data);
  if (buf_.size() >= (1u << 20)) return flush();
  return Status::success();
}

Status AtomicFile::commit() {
  if (failed_) return error_;
  if (auto st = flush(); !st) return st;
  if (::fsync(fd_) != 0 || ::close(fd_) != 0) {
    ::unlink(tmp_.c_str());
    done_ = true;
    return make_error(std::string("cannot flush: ") + std::strerror(errno), tmp_);
  }
  done_ = true;
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp_.c_str());
    return make_error(std::string("cannot rename into place: ") + std::strerror(errno), path_.string());
  }
  return Status::success();
}

}  // namespace cf
