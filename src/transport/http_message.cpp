#include "transport/http_message.hpp"

#include "core/text.hpp"

namespace cf::transport {

std::string Response::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (cf::iequals_ascii(key, name)) return value;
  return {};
}

}  // namespace cf::transport
