// Bare-parse baselines for the cohort-finder benchmark: one thread, every line of every file given.
//
//   rapidjson_parse dom FILE...   Document::ParseInsitu of every line (the DOM a naive reader builds), and a
//                                 look-up of resourceType so the parse cannot be optimised away
//   rapidjson_parse sax FILE...   Reader::Parse<kParseInsituFlag> with a handler that only counts events
//
// Prints "lines N", "errors N", "bytes N" and, for dom, "type T N" per resourceType. Memory is bounded by the
// read buffer (16 MiB) plus one line's DOM.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/reader.h>

namespace {

struct Counter : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Counter> {
  unsigned long events = 0;
  bool Default() {
    ++events;
    return true;
  }
};

template <class OnLine>
bool for_each_line(const char* path, std::vector<char>& buf, unsigned long& bytes, OnLine&& on_line) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::perror(path);
    return false;
  }
  std::size_t have = 0;  // bytes of a partial line kept at the front of buf
  for (;;) {
    if (have == buf.size()) buf.resize(buf.size() * 2);  // a line longer than the buffer
    std::size_t n = std::fread(buf.data() + have, 1, buf.size() - have - 1, f);
    bytes += n;
    const bool eof = n == 0;
    std::size_t end = have + n;
    char* p = buf.data();
    char* stop = p + end;
    for (;;) {
      char* nl = static_cast<char*>(std::memchr(p, '\n', static_cast<std::size_t>(stop - p)));
      if (!nl) break;
      *nl = '\0';
      if (nl > p) on_line(p, static_cast<std::size_t>(nl - p));
      p = nl + 1;
    }
    have = static_cast<std::size_t>(stop - p);
    if (eof) {
      if (have) {
        p[have] = '\0';
        on_line(p, have);
      }
      break;
    }
    std::memmove(buf.data(), p, have);
  }
  std::fclose(f);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (std::strcmp(argv[1], "dom") && std::strcmp(argv[1], "sax"))) {
    std::fprintf(stderr, "usage: rapidjson_parse dom|sax FILE...\n");
    return 2;
  }
  const bool dom = !std::strcmp(argv[1], "dom");
  std::vector<char> buf(16u << 20);
  unsigned long lines = 0, errors = 0, bytes = 0, events = 0;
  std::map<std::string, unsigned long> types;
  // One Document reused for every line; its pool allocator starts in a fixed buffer and is cleared after each
  // line, so memory stays bounded (a Document that is only re-parsed keeps every line's values until it is
  // destroyed).
  static char value_buf[1 << 16];
  rapidjson::MemoryPoolAllocator<> value_alloc(value_buf, sizeof value_buf);
  rapidjson::Document doc(&value_alloc);
  rapidjson::Reader reader;
  for (int i = 2; i < argc; ++i) {
    bool ok = for_each_line(argv[i], buf, bytes, [&](char* line, std::size_t) {
      ++lines;
      if (dom) {
        doc.ParseInsitu(line);
        if (doc.HasParseError() || !doc.IsObject()) {
          ++errors;
        } else {
          auto it = doc.FindMember("resourceType");
          if (it != doc.MemberEnd() && it->value.IsString()) ++types[it->value.GetString()];
        }
        doc.SetNull();
        value_alloc.Clear();
      } else {
        Counter h;
        rapidjson::InsituStringStream ss(line);
        if (reader.Parse<rapidjson::kParseInsituFlag>(ss, h).IsError()) ++errors;
        events += h.events;
      }
    });
    if (!ok) return 1;
  }
  std::printf("lines %lu\nerrors %lu\nbytes %lu\n", lines, errors, bytes);
  if (dom)
    for (const auto& [t, n] : types) std::printf("type %s %lu\n", t.c_str(), n);
  else
    std::printf("events %lu\n", events);
  return errors ? 1 : 0;
}
