#include "transport/detail/content_decoding.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <climits>

#include "core/text.hpp"

namespace cf::transport::detail {
namespace {

constexpr int kGzipWindowBits =
    15 + 16;                         // zlib: +16 selects the gzip wrapper (header, CRC-32 and length trailer)
constexpr int kZlibWindowBits = 15;  // "deflate" per RFC 9110 is the zlib format (RFC 1950)
constexpr int kRawWindowBits = -15;  // ...but some servers send raw RFC 1951 data under that name

class Inflater {
 public:
  explicit Inflater(int window_bits) {
    // inflateInit2() is a macro with a C cast; call the function it expands to.
    ok_ = inflateInit2_(&zs_, window_bits, ZLIB_VERSION, static_cast<int>(sizeof(z_stream))) == Z_OK;
  }
  ~Inflater() {
    if (ok_) inflateEnd(&zs_);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates all of `in`, concatenated gzip members included, appending to `out`.
  cf::Result<std::string> run(std::string_view in, bool multi_member, std::size_t max_decoded) {
    if (!ok_) return cf::make_error("cannot initialise zlib");
    std::string out;
    std::array<unsigned char, 64 * 1024> chunk{};
    std::size_t offset = 0;
    while (true) {
      // avail_in is 32-bit: feed large bodies in slices.
      if (zs_.avail_in == 0 && offset < in.size()) {
        const std::size_t n = std::min<std::size_t>(in.size() - offset, UINT_MAX / 2);
        zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + offset));
        zs_.avail_in = static_cast<uInt>(n);
        offset += n;
      }
      zs_.next_out = chunk.data();
      zs_.avail_out = static_cast<uInt>(chunk.size());
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      const std::size_t produced = chunk.size() - zs_.avail_out;
      if (out.size() + produced > max_decoded)
        return cf::make_error("decoded body exceeds the limit of " + std::to_string(max_decoded) +
                              " bytes (compressed body of " + std::to_string(in.size()) + " bytes)");
      out.append(reinterpret_cast<const char*>(chunk.data()), produced);
      const bool input_left = zs_.avail_in > 0 || offset < in.size();
      if (rc == Z_STREAM_END) {
        if (!input_left) return out;
        if (!multi_member)
          return cf::make_error("compressed body has trailing data after the end of the stream");
        if (inflateReset(&zs_) != Z_OK) return cf::make_error("cannot reset zlib");
        continue;  // RFC 1952: a gzip file may hold several members
      }
      if (rc == Z_BUF_ERROR && !input_left && produced == 0)
        return cf::make_error("compressed body is truncated (stream ended before its trailer)");
      if (rc == Z_DATA_ERROR)
        return cf::make_error(std::string("compressed body is corrupt: ") +
                              (zs_.msg ? zs_.msg : "data error"));
      if (rc == Z_MEM_ERROR) return cf::make_error("out of memory while decoding the body");
      if (rc != Z_OK && rc != Z_BUF_ERROR) return cf::make_error("zlib error " + std::to_string(rc));
    }
  }

 private:
  z_stream zs_{};
  bool ok_ = false;
};

}  // namespace

cf::Result<std::string> decode_content(std::string_view content_encoding, std::string body,
                                       std::size_t max_decoded) {
  const std::string encoding = cf::to_lower_ascii(cf::trim(content_encoding));
  if (encoding.empty() || encoding == "identity") {
    if (body.size() > max_decoded)
      return cf::make_error("body exceeds the decoded-size limit of " + std::to_string(max_decoded) +
                            " bytes");
    return body;
  }
  // An empty body labelled as compressed (seen on 204-like answers) holds nothing that could be lost.
  if (body.empty() && (encoding == "gzip" || encoding == "x-gzip" || encoding == "deflate")) return body;
  if (encoding == "gzip" || encoding == "x-gzip")
    return Inflater(kGzipWindowBits).run(body, true, max_decoded);
  if (encoding == "deflate") {
    auto zlib_format = Inflater(kZlibWindowBits).run(body, false, max_decoded);
    const bool header_rejected =
        !zlib_format && zlib_format.error().message.find("incorrect header check") != std::string::npos;
    if (!header_rejected) return zlib_format;
    return Inflater(kRawWindowBits).run(body, false, max_decoded);
  }
  // We only offer gzip and deflate; anything else (br, a list of several codings) is a server error (T10).
  return cf::make_error("unsupported Content-Encoding '" + cf::sanitize_for_log(encoding, 40) + "'");
}

}  // namespace cf::transport::detail
