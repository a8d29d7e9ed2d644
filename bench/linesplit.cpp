// Line-split-only pass: read every file in 1 MiB blocks and find the newlines with memchr (what any NDJSON
// reader must do at least). Prints "lines N" and "bytes N".
#include <cstdio>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: linesplit FILE...\n");
    return 2;
  }
  std::vector<char> buf(1u << 20);
  unsigned long lines = 0, bytes = 0;
  for (int i = 1; i < argc; ++i) {
    std::FILE* f = std::fopen(argv[i], "rb");
    if (!f) {
      std::perror(argv[i]);
      return 1;
    }
    bool partial = false;  // the last block ended inside a line
    for (;;) {
      std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
      if (n == 0) break;
      bytes += n;
      const char* p = buf.data();
      const char* end = p + n;
      while (const char* nl =
                 static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) {
        ++lines;
        p = nl + 1;
      }
      partial = p != end;
    }
    if (partial) ++lines;
    std::fclose(f);
  }
  std::printf("lines %lu\nbytes %lu\n", lines, bytes);
  return 0;
}
