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

}  // namespace

class StreamDecoder::Inflater {
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

  z_stream zs_{};
  bool ok_ = false;
  bool ended_ = false;  // the current stream (gzip member) reached its end
  std::array<unsigned char, 16 * 1024> chunk_{};
};

StreamDecoder::StreamDecoder(Kind kind, std::size_t max_decoded, bool streaming)
    : kind_(kind), max_decoded_(max_decoded), streaming_(streaming) {}
StreamDecoder::~StreamDecoder() = default;

cf::Result<std::unique_ptr<StreamDecoder>> StreamDecoder::create(std::string_view content_encoding,
                                                                 std::size_t max_decoded, bool streaming) {
  const std::string encoding = cf::to_lower_ascii(cf::trim(content_encoding));
  Kind kind;
  if (encoding.empty() || encoding == "identity")
    kind = Kind::identity;
  else if (encoding == "gzip" || encoding == "x-gzip")
    kind = Kind::gzip;
  else if (encoding == "deflate")
    kind = Kind::deflate;
  else  // we only offer gzip and deflate; anything else (br, a list of several codings) is a server error
        // (T10)
    return cf::make_error("unsupported Content-Encoding '" + cf::sanitize_for_log(encoding, 40) + "'");
  std::unique_ptr<StreamDecoder> d(new StreamDecoder(kind, max_decoded, streaming));
  if (kind == Kind::gzip) d->inflater_ = std::make_unique<Inflater>(kGzipWindowBits);
  return d;
}

// Inflates all of `in`, concatenated gzip members included, passing the output on.
cf::Status StreamDecoder::inflate_some(std::string_view in, const Out& out) {
  Inflater& z = *inflater_;
  if (!z.ok_) return cf::make_error("cannot initialise zlib");
  std::size_t offset = 0;
  z.zs_.avail_in = 0;
  while (true) {
    // avail_in is 32-bit: feed large bodies in slices.
    if (z.zs_.avail_in == 0 && offset < in.size()) {
      const std::size_t n = std::min<std::size_t>(in.size() - offset, UINT_MAX / 2);
      z.zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + offset));
      z.zs_.avail_in = static_cast<uInt>(n);
      offset += n;
    }
    const bool input_left = z.zs_.avail_in > 0 || offset < in.size();
    if (z.ended_) {
      if (!input_left) return cf::Status::success();
      if (kind_ != Kind::gzip)
        return cf::make_error("compressed body has trailing data after the end of the stream");
      if (inflateReset(&z.zs_) != Z_OK) return cf::make_error("cannot reset zlib");
      z.ended_ = false;  // RFC 1952: a gzip file may hold several members
    }
    z.zs_.next_out = z.chunk_.data();
    z.zs_.avail_out = static_cast<uInt>(z.chunk_.size());
    const int rc = inflate(&z.zs_, Z_NO_FLUSH);
    const std::size_t produced = z.chunk_.size() - z.zs_.avail_out;
    if (produced > 0) {
      if (decoded_ + produced > max_decoded_)
        return cf::make_error("decoded body exceeds the limit of " + std::to_string(max_decoded_) +
                              " bytes (compressed body of " + std::to_string(compressed_) + " bytes" +
                              (streaming_ ? " so far)" : ")"));
      decoded_ += produced;
      if (auto st = out(std::string_view(reinterpret_cast<const char*>(z.chunk_.data()), produced)); !st)
        return st;
    }
    if (rc == Z_STREAM_END) {
      z.ended_ = true;
      continue;
    }
    if (rc == Z_DATA_ERROR)
      return cf::make_error(std::string("compressed body is corrupt: ") +
                            (z.zs_.msg ? z.zs_.msg : "data error"));
    if (rc == Z_MEM_ERROR) return cf::make_error("out of memory while decoding the body");
    if (rc != Z_OK && rc != Z_BUF_ERROR) return cf::make_error("zlib error " + std::to_string(rc));
    // All input taken and the output buffer not filled: zlib needs more input.
    if (z.zs_.avail_in == 0 && offset >= in.size() && z.zs_.avail_out != 0) return cf::Status::success();
  }
}

// "deflate" is the zlib format, but some servers send raw deflate under that name: the zlib header check on
// the first two bytes tells them apart.
cf::Status StreamDecoder::start_deflate(const Out& out) {
  inflater_ = std::make_unique<Inflater>(kZlibWindowBits);
  auto st = inflate_some(deflate_head_, out);
  if (!st && decoded_ == 0 && st.error().message.find("incorrect header check") != std::string::npos) {
    inflater_ = std::make_unique<Inflater>(kRawWindowBits);
    st = inflate_some(deflate_head_, out);
  }
  deflate_head_.clear();
  deflate_head_.shrink_to_fit();
  return st;
}

cf::Status StreamDecoder::feed(std::string_view in, const Out& out) {
  if (failed_) return cf::make_error("the body decoder already failed");
  compressed_ += in.size();
  cf::Status st;
  if (kind_ == Kind::identity) {
    if (compressed_ > max_decoded_)
      st =
          cf::make_error("body exceeds the decoded-size limit of " + std::to_string(max_decoded_) + " bytes");
    else if (!in.empty()) {
      decoded_ += in.size();
      st = out(in);
    }
  } else if (kind_ == Kind::deflate && !inflater_) {
    deflate_head_.append(in);
    if (deflate_head_.size() >= 2) st = start_deflate(out);
  } else if (!in.empty()) {
    st = inflate_some(in, out);
  }
  if (!st) failed_ = true;
  return st;
}

cf::Status StreamDecoder::finish(const Out& out) {
  if (failed_) return cf::make_error("the body decoder already failed");
  // An empty body labelled as compressed (seen on 204-like answers) holds nothing that could be lost.
  if (kind_ == Kind::identity || compressed_ == 0) return cf::Status::success();
  if (!inflater_) {  // deflate with fewer than two bytes
    if (auto st = start_deflate(out); !st) return st;
  }
  if (!inflater_->ended_)
    return cf::make_error("compressed body is truncated (stream ended before its trailer)");
  return cf::Status::success();
}

cf::Result<std::string> decode_content(std::string_view content_encoding, std::string body,
                                       std::size_t max_decoded) {
  auto decoder = StreamDecoder::create(content_encoding, max_decoded, false);
  if (!decoder) return decoder.error();
  if ((*decoder)->identity()) {  // no copy: only the size is checked
    if (auto st = (*decoder)->feed(body, [](std::string_view) { return cf::Status::success(); }); !st)
      return st.error();
    return body;
  }
  std::string out;
  const StreamDecoder::Out append = [&out](std::string_view piece) {
    out.append(piece);
    return cf::Status::success();
  };
  if (auto st = (*decoder)->feed(body, append); !st) return st.error();
  if (auto st = (*decoder)->finish(append); !st) return st.error();
  return out;
}

}  // namespace cf::transport::detail
