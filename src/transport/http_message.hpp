#pragma once
// Request and response values exchanged with HttpClient. Plain data; no networking types.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transport/url.hpp"

namespace cf::transport {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";
  Url url;
  // Extra headers, e.g. Authorization or Accept. Host, Content-Length, Transfer-Encoding and Connection are
  // set by the client and refused here; User-Agent and Accept-Encoding replace the client's defaults.
  HeaderList headers;
  std::string body;
  // RELIABILITY H1: false for a URL another origin handed us (a Bulk manifest's file link): the connection is
  // refused when the host name resolves to any loopback, link-local (cloud metadata) or unspecified address,
  // whatever the name looked like, so a name pointing at this machine cannot reach its services.
  bool local_addresses_allowed = true;
  // A POST that changes nothing on the server (FHIR `POST [type]/_search`, RELIABILITY P9): resent and
  // retried like a GET. Other POSTs (a Bulk kick-off, a token request) are sent once.
  bool safe = false;
};

struct Response {
  int status = 0;
  HeaderList headers;  // names lower-cased, values as received, in order (repeated names kept)
  std::string body;    // after Content-Encoding decoding
  int attempts = 1;    // attempts made for this request, the successful one included

  // First value of the header, or "" when absent. The name is matched case-insensitively.
  std::string header(std::string_view name) const;
};

}  // namespace cf::transport
