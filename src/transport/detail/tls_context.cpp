#include "transport/detail/tls_context.hpp"

#include <openssl/ssl.h>

namespace cf::transport::detail {

namespace ssl = boost::asio::ssl;

cf::Result<std::shared_ptr<ssl::context>> make_tls_context(const ClientOptions& options) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  // SSL_CTX_set_min_proto_version() is a macro around this call.
  if (SSL_CTX_ctrl(ctx->native_handle(), SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, nullptr) != 1)
    return cf::make_error("cannot require TLS 1.2 or later", "TLS setup");
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  boost::system::error_code ec;
  if (!options.ca_file.empty()) {
    ctx->load_verify_file(options.ca_file, ec);
    if (ec)
      return cf::make_error("cannot load CA file '" + options.ca_file + "': " + ec.message(), "TLS setup");
  } else {
    ctx->set_default_verify_paths(ec);
    if (ec) return cf::make_error("cannot load the system CA store: " + ec.message(), "TLS setup");
  }
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

}  // namespace cf::transport::detail
