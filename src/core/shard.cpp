#include "core/shard.hpp"

namespace cf {

bool Shard::contains(std::string_view id) const {
  if (n <= 1) return true;
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int>(h % static_cast<std::uint64_t>(n)) == k - 1;
}

std::optional<Shard> Shard::parse(std::string_view t) {
  auto slash = t.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto num = [](std::string_view s) -> int {
    if (s.empty() || s.size() > 4) return -1;
    int v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  Shard s{num(t.substr(0, slash)), num(t.substr(slash + 1))};
  if (s.n < 1 || s.n > 1024 || s.k < 1 || s.k > s.n) return std::nullopt;
  return s;
}

}  // namespace cf
