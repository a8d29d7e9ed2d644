#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace cf {

std::string_view trim(std::string_view s);
std::string to_lower_ascii(std::string_view s);
bool iequals_ascii(std::string_view a, std::string_view b);
std::vector<std::string_view> split(std::string_view s, char sep);
// Strips control characters (CR, LF, ESC...) and caps the length, so server- or data-supplied text cannot
// forge log lines (CWE-117) or flood a log.
std::string sanitize_for_log(std::string_view s, std::size_t max_len = 200);
std::string hex(const unsigned char* data, std::size_t n);

}  // namespace cf
