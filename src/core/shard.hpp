#pragma once
// Splitting the patients of one run over N processes: shard K of N holds the patients whose stable hash of id
// falls in K. The hash (FNV-1a, 64 bit) depends on the id alone, so every shard, every night and every
// machine agree.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cf {

struct Shard {
  int k = 1;  // 1-based
  int n = 1;

  bool contains(std::string_view patient_id) const;
  bool whole() const { return n == 1; }
  std::string str() const { return std::to_string(k) + "/" + std::to_string(n); }
  // "K/N" with 1 <= K <= N <= 1024
  static std::optional<Shard> parse(std::string_view text);
};

}  // namespace cf
