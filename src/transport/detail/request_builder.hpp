#pragma once
// Turns a Request into the Beast message written on the wire, refusing header injection.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/result.hpp"
#include "transport/client_options.hpp"
#include "transport/http_message.hpp"

namespace cf::transport::detail {

using WireRequest = boost::beast::http::request<boost::beast::http::string_body>;

// Sets Host, User-Agent and "Accept-Encoding: gzip, deflate"; caller headers are added after checks (token
// names, no CR/LF/NUL in values, no Host/Content-Length/Transfer-Encoding/Connection). Error messages name
// the header, never its value.
cf::Result<WireRequest> build_request(const Request& request, const ClientOptions& options);

}  // namespace cf::transport::detail
