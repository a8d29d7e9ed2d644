#pragma once
// Content-Encoding decoding with a cap on the expanded size (RELIABILITY.md T10, CWE-409), for whole bodies
// and for bodies that arrive in pieces.
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace cf::transport::detail {

// Decodes a body fed in pieces, handing the decoded bytes on as they come out (at most 16 KiB at a time), so
// that memory does not grow with the body. A body that would expand beyond `max_decoded` bytes, a truncated
// stream, a bad CRC or length trailer, trailing garbage and unknown encodings are errors. Messages carry no
// body bytes.
class StreamDecoder {
  enum class Kind { identity, gzip, deflate };

 public:
  // Receives decoded bytes; an error return stops decoding and is passed on by feed()/finish().
  using Out = std::function<cf::Status(std::string_view decoded)>;

  // `content_encoding` is the Content-Encoding header value: "", "identity", "gzip", "x-gzip" or "deflate";
  // anything else fails here. `streaming`: messages say how much was read "so far" rather than in total.
  static cf::Result<std::unique_ptr<StreamDecoder>> create(std::string_view content_encoding,
                                                           std::size_t max_decoded, bool streaming);
  ~StreamDecoder();
  StreamDecoder(const StreamDecoder&) = delete;
  StreamDecoder& operator=(const StreamDecoder&) = delete;

  cf::Status feed(std::string_view in, const Out& out);
  // The body is complete: fails when the compressed stream did not end properly. Call once, after the last
  // feed().
  cf::Status finish(const Out& out);

  std::size_t decoded_bytes() const { return decoded_; }
  bool identity() const { return kind_ == Kind::identity; }

 private:
  class Inflater;
  StreamDecoder(Kind kind, std::size_t max_decoded, bool streaming);
  cf::Status inflate_some(std::string_view in, const Out& out);
  cf::Status start_deflate(const Out& out);

  Kind kind_;
  std::size_t max_decoded_;
  bool streaming_;
  std::size_t decoded_ = 0;
  std::size_t compressed_ = 0;  // bytes fed
  std::unique_ptr<Inflater> inflater_;
  std::string deflate_head_;  // deflate: the first bytes, kept until the zlib-or-raw question is settled
  bool failed_ = false;
};

// The whole body at once: StreamDecoder over one piece, collected into a string.
cf::Result<std::string> decode_content(std::string_view content_encoding, std::string body,
                                       std::size_t max_decoded);

}  // namespace cf::transport::detail
