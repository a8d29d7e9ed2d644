#include "core/temp_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace cf {

Result<std::FILE*> open_temp_file(const std::filesystem::path& dir) {
  std::string name = (dir / ".cohort-finder-scratch-XXXXXX").string();
  const int fd = ::mkostemp(name.data(), O_CLOEXEC);  // mode 0600
  if (fd < 0)
    return make_error(std::string("cannot create a scratch file: ") + std::strerror(errno), dir.string());
  ::unlink(name.c_str());
  std::FILE* f = ::fdopen(fd, "w+b");
  if (!f) {
    const int e = errno;
    ::close(fd);
    return make_error(std::string("cannot open a scratch file: ") + std::strerror(e), dir.string());
  }
  return f;
}

Result<std::unique_ptr<TempLines>> TempLines::create(const std::filesystem::path& dir) {
  auto f = open_temp_file(dir);
  if (!f) return f.error();
  return std::unique_ptr<TempLines>(new TempLines(*f));
}

// Lines are kilobytes and come by the hundred thousand: a 1 MB buffer writes them in large blocks (the
// default one, smaller than a line, made every line a system call).
TempLines::TempLines(std::FILE* f) : f_(f), buffer_(new char[1u << 20]) {
  std::setvbuf(f_, buffer_.get(), _IOFBF, 1u << 20);
}

TempLines::~TempLines() {
  std::fclose(f_);
}

Result<TempLines::Ref> TempLines::append(std::string_view text) {
  if (text.size() > UINT32_MAX) return make_error("scratch line too long");
  if (std::fwrite(text.data(), 1, text.size(), f_) != text.size())
    return make_error(std::string("cannot write a scratch file: ") + std::strerror(errno));
  Ref r{end_, static_cast<std::uint32_t>(text.size())};
  end_ += text.size();
  dirty_ = true;
  return r;
}

Status TempLines::read(Ref ref, std::string& out) {
  if (dirty_) {
    if (std::fflush(f_) != 0)
      return make_error(std::string("cannot write a scratch file: ") + std::strerror(errno));
    dirty_ = false;
  }
  out.resize(ref.size);
  std::size_t done = 0;
  while (done < ref.size) {
    const ssize_t n =
        ::pread(::fileno(f_), out.data() + done, ref.size - done, static_cast<off_t>(ref.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return make_error("cannot read back a scratch file");
    done += static_cast<std::size_t>(n);
  }
  return Status::success();
}

}  // namespace cf
