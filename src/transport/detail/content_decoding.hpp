#pragma once
// Content-Encoding decoding with a cap on the expanded size (RELIABILITY.md T10, CWE-409).
#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cf::transport::detail {

// `content_encoding` is the Content-Encoding header value: "", "identity", "gzip", "x-gzip" or "deflate". A
// body that would expand beyond `max_decoded` bytes, a truncated stream, a bad CRC or length trailer,
// trailing garbage and unknown encodings are errors. Messages carry no body bytes.
cf::Result<std::string> decode_content(std::string_view content_encoding, std::string body,
                                       std::size_t max_decoded);

}  // namespace cf::transport::detail
