#pragma once
// SHA-256 (FIPS 180-4) for the manifest's fingerprints of the trial definition, mappings and outputs. Kept in
// core so that writing a manifest does not pull the TLS library into the report stage.
#include <cstdint>
#include <string>
#include <string_view>

namespace cf {

class Sha256 {
 public:
  // Uses the CPU's SHA instructions when it has them, unless `allow_hardware` is false (tests compare both).
  explicit Sha256(bool allow_hardware = true);
  void update(std::string_view data);
  std::string hex_digest();  // finishes the hash
  static bool hardware_available();

 private:
  void blocks(const unsigned char* p, std::size_t count);
  void block(const unsigned char* p);  // portable
  bool hardware_;
  std::uint32_t h_[8];
  unsigned char buf_[64];
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

std::string sha256_hex(std::string_view data);

}  // namespace cf
