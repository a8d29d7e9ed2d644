// Line-split-only pass: read every file in 1 MiB blocks and find the newlines with memchr (what any NDJSON
// reader must do at least). Prints "lines N" and "bytes N".
//
// `linesplit --mmap FILE...` maps each file instead of reading it (MAP_SHARED, MADV_SEQUENTIAL): the same
// count without the kernel's copy out of the page cache, which tells what reading the tool's way (read(2)
// into its own buffers) costs against the other way an NDJSON reader could take (see docs/performance.md,
// session 10).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

unsigned long count_lines(const char* p, const char* end, bool& partial) {
  unsigned long lines = 0;
  while (const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) {
    ++lines;
    p = nl + 1;
  }
  partial = p != end;
  return lines;
}

}  // namespace

int main(int argc, char** argv) {
  const bool map = argc > 1 && std::strcmp(argv[1], "--mmap") == 0;
  if (argc < 2 + (map ? 1 : 0)) {
    std::fprintf(stderr, "usage: linesplit [--mmap] FILE...\n");
    return 2;
  }
  std::vector<char> buf(1u << 20);
  unsigned long lines = 0, bytes = 0;
  for (int i = map ? 2 : 1; i < argc; ++i) {
    bool partial = false;  // the last block ended inside a line
    if (map) {
      const int fd = ::open(argv[i], O_RDONLY);
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0) {
        std::perror(argv[i]);
        return 1;
      }
      const auto n = static_cast<std::size_t>(st.st_size);
      if (n > 0) {
        void* m = ::mmap(nullptr, n, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
          std::perror(argv[i]);
          return 1;
        }
        ::madvise(m, n, MADV_SEQUENTIAL);
        const char* p = static_cast<const char*>(m);
        lines += count_lines(p, p + n, partial);
        bytes += n;
        ::munmap(m, n);
      }
      ::close(fd);
      if (partial) ++lines;
      continue;
    }
    std::FILE* f = std::fopen(argv[i], "rb");
    if (!f) {
      std::perror(argv[i]);
      return 1;
    }
    for (;;) {
      std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
      if (n == 0) break;
      bytes += n;
      lines += count_lines(buf.data(), buf.data() + n, partial);
    }
    if (partial) ++lines;
    std::fclose(f);
  }
  std::printf("lines %lu\nbytes %lu\n", lines, bytes);
  return 0;
}
