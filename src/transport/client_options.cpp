#include "transport/client_options.hpp"

namespace cf::transport {

cf::Status validate(const ClientOptions& o) {
  using std::chrono::milliseconds;
  if (o.max_connections == 0)
    return cf::make_error("max_connections must be at least 1", "http client options");
  for (const auto& [name, value] :
       {std::pair{"connect_timeout", o.connect_timeout}, std::pair{"handshake_timeout", o.handshake_timeout},
        std::pair{"read_timeout", o.read_timeout}, std::pair{"total_timeout", o.total_timeout}}) {
    if (value <= milliseconds{0})
      return cf::make_error(std::string(name) + " must be positive", "http client options");
  }
  if (o.idle_timeout < milliseconds{0})
    return cf::make_error("idle_timeout must not be negative", "http client options");
  if (o.max_header_bytes == 0 || o.max_body_bytes == 0 || o.max_decoded_bytes == 0 ||
      o.max_unstreamed_bytes == 0)
    return cf::make_error("size limits must be positive", "http client options");
  if (o.retry.max_attempts < 1)
    return cf::make_error("retry.max_attempts must be at least 1", "http client options");
  if (o.retry.run_budget < 0)
    return cf::make_error("retry.run_budget must not be negative", "http client options");
  if (o.retry.base_delay < milliseconds{0} || o.retry.max_delay < milliseconds{0} ||
      o.retry.max_retry_after < milliseconds{0})
    return cf::make_error("retry delays must not be negative", "http client options");
#ifdef NDEBUG
  // RELIABILITY.md T2: no runtime switch turns verification off in a release build.
  if (o.insecure_skip_verify)
    return cf::make_error("insecure_skip_verify is refused in release builds; configure ca_file instead",
                          "http client options");
#endif
  return cf::Status::success();
}

}  // namespace cf::transport
