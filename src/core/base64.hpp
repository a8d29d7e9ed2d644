#pragma once
#include <string>
#include <string_view>

namespace cf {

std::string base64_encode(std::string_view data);

}  // namespace cf
