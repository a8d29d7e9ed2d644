// libFuzzer target: one FHIR JSON text through the bounded parser, the Bundle streamer and resource
// extraction.
#include <cstdio>
#include <string_view>

#include "core/data_issue.hpp"
#include "fhir/extract.hpp"
#include "json/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const unsigned char* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cf::IssueLog issues;
  cf::json::Document doc;
  cf::json::ParseError err;
  if (cf::json::parse(text, doc, err)) cf::fhir::extract_resource(doc, cf::fhir::Origin{"fuzz"}, issues);
  // The same bytes as a Bundle file, streamed entry by entry.
  if (std::FILE* f = fmemopen(const_cast<unsigned char*>(data), size, "rb")) {
    cf::json::Document root;
    cf::json::StreamCallbacks cb;
    cb.on_entry = [&](std::size_t, cf::json::Document& e) {
      if (const auto* r = cf::json::member(e, "resource"))
        cf::fhir::extract_resource(*r, cf::fhir::Origin{"fuzz"}, issues);
    };
    cf::json::stream_object_file(f, root, cb, err);
    std::fclose(f);
  }
  return 0;
}
