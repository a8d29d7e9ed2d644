#pragma once
// The TLS client context shared by all connections of one HttpClient (RELIABILITY.md T1-T3).
#include <boost/asio/ssl/context.hpp>
#include <memory>

#include "core/result.hpp"
#include "transport/client_options.hpp"

namespace cf::transport::detail {

// TLS 1.2 minimum, no TLS compression, peer verification against `ca_file` or the system store. SNI and the
// expected host name are per connection (Connection::open).
cf::Result<std::shared_ptr<boost::asio::ssl::context>> make_tls_context(const ClientOptions& options);

}  // namespace cf::transport::detail
