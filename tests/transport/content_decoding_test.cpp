// Content-Encoding decoding on fixed byte strings (the end-to-end cases run against the fault server).
#include <boost/test/unit_test.hpp>
#include <string>

#include "transport/detail/content_decoding.hpp"

using cf::transport::detail::decode_content;

namespace {

std::string bytes(std::initializer_list<unsigned char> b) {
  return std::string(b.begin(), b.end());
}

// Python: gzip.compress(b"hello", mtime=0), zlib.compress(b"hello"), raw deflate of b"hello",
// gzip.compress(b"a" * 1000, mtime=0).
const std::string kGzipHello =
    bytes({0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd,
           0xc9, 0xc9, 0x07, 0x00, 0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00});
const std::string kZlibHello =
    bytes({0x78, 0x9c, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x06, 0x2c, 0x02, 0x15});
const std::string kRawHello = bytes({0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
const std::string kGzipThousandA =
    bytes({0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x4b, 0x4c, 0x1c, 0x05, 0xa3,
           0x60, 0x14, 0x0c, 0x77, 0x00, 0x00, 0x03, 0xda, 0x38, 0x9a, 0xe8, 0x03, 0x00, 0x00});

std::string error_of(const cf::Result<std::string>& r) {
  BOOST_REQUIRE(!r.ok());
  return r.error().message;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(content_decoding)

BOOST_AUTO_TEST_CASE(decodes_supported_encodings) {
  BOOST_TEST(*decode_content("", "plain", 100) == "plain");
  BOOST_TEST(*decode_content("identity", "plain", 100) == "plain");
  BOOST_TEST(*decode_content("gzip", kGzipHello, 100) == "hello");
  BOOST_TEST(*decode_content(" GZIP ", kGzipHello, 100) == "hello");
  BOOST_TEST(*decode_content("x-gzip", kGzipHello, 100) == "hello");
  BOOST_TEST(*decode_content("deflate", kZlibHello, 100) == "hello");
  BOOST_TEST(*decode_content("deflate", kRawHello, 100) == "hello");
  BOOST_TEST(*decode_content("gzip", kGzipHello + kGzipHello, 100) == "hellohello");  // two gzip members
  BOOST_TEST(*decode_content("gzip", "", 100) == "");  // empty body labelled gzip
}

BOOST_AUTO_TEST_CASE(caps_the_decoded_size) {
  BOOST_TEST(decode_content("gzip", kGzipThousandA, 1000)->size() == 1000u);
  BOOST_TEST(error_of(decode_content("gzip", kGzipThousandA, 999)) ==
             "decoded body exceeds the limit of 999 bytes (compressed body of 29 bytes)");
  BOOST_TEST(error_of(decode_content("", std::string(11, 'x'), 10)) ==
             "body exceeds the decoded-size limit of 10 bytes");
}

BOOST_AUTO_TEST_CASE(refuses_damaged_streams) {
  BOOST_TEST(error_of(decode_content("gzip", kGzipHello.substr(0, kGzipHello.size() - 4), 100)) ==
             "compressed body is truncated (stream ended before its trailer)");
  BOOST_TEST(error_of(decode_content("gzip", kGzipHello.substr(0, 12), 100)) ==
             "compressed body is truncated (stream ended before its trailer)");
  std::string bad_crc = kGzipHello;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(bad_crc[bad_crc.size() - 8] ^ 0xff);
  BOOST_TEST(error_of(decode_content("gzip", bad_crc, 100)) ==
             "compressed body is corrupt: incorrect data check");
  std::string bad_length = kGzipHello;
  bad_length[bad_length.size() - 4] = 6;
  BOOST_TEST(error_of(decode_content("gzip", bad_length, 100)) ==
             "compressed body is corrupt: incorrect length check");
  BOOST_TEST(error_of(decode_content("gzip", "not gzip at all", 100)) ==
             "compressed body is corrupt: incorrect header check");
  BOOST_TEST(error_of(decode_content("deflate", kZlibHello + "junk", 100)) ==
             "compressed body has trailing data after the end of the stream");
}

BOOST_AUTO_TEST_CASE(refuses_encodings_it_did_not_offer) {
  BOOST_TEST(error_of(decode_content("br", "x", 100)) == "unsupported Content-Encoding 'br'");
  BOOST_TEST(error_of(decode_content("gzip, gzip", kGzipHello, 100)) ==
             "unsupported Content-Encoding 'gzip, gzip'");
  BOOST_TEST(error_of(decode_content("zstd\r\nX: y", "x", 100)).find('\n') == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
