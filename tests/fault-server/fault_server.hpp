#pragma once
// Test fixture around fault_server.js: starts it on 127.0.0.1 with OS-chosen ports, reads back what it
// recorded, and stops it in the destructor. See fault_server.js for the scenario paths.
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fault-server/subprocess.hpp"

namespace cf::testing {

struct FaultServerOptions {
  std::string cert_file;  // both set: HTTPS
  std::string key_file;
};

struct RecordedRequest {
  int connection = 0;           // server-side connection number: equal numbers mean a reused connection
  std::string local_address;    // "127.0.0.1" or "127.0.0.2": which origin was contacted
  std::string tls_server_name;  // SNI sent by the client; empty for none and for plain HTTP
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  bool has_header(std::string_view name) const;
  std::string header(std::string_view name) const;
};

struct AddressStats {
  int tcp_connections = 0;  // accepted since start or reset
  int open = 0;             // open now
  int max_open = 0;         // most open at once
  int tls_failures = 0;     // failed TLS handshakes
};

class FaultServer {
 public:
  explicit FaultServer(FaultServerOptions options = {});

  int port() const { return port_; }
  int silent_port() const { return silent_port_; }  // accepts TCP, never answers
  bool has_second_host() const { return second_host_; }
  const std::string& scheme() const { return scheme_; }
  // scheme://host:port + path_and_query
  std::string url(std::string_view path_and_query, std::string_view host = "127.0.0.1") const;

  std::vector<RecordedRequest> requests() const;
  std::size_t count(std::string_view target) const;  // recorded requests with exactly this target
  AddressStats stats(std::string_view address = "127.0.0.1") const;
  void reset();

 private:
  std::string control(std::string_view path) const;

  Subprocess process_;
  std::string scheme_;
  int port_ = 0;
  int control_port_ = 0;
  int silent_port_ = 0;
  bool second_host_ = false;
};

// Free TCP port on 127.0.0.1 with nothing listening (bound, then closed): for "connection refused" tests.
int unused_port();

// A port on 127.0.0.1 that never answers a connection attempt, like a host behind a dropping firewall: its
// listener never accepts and its accept queue is kept full, so the kernel drops further SYNs. For
// connect-timeout tests without leaving loopback.
class UnansweredPort {
 public:
  UnansweredPort();
  ~UnansweredPort();
  UnansweredPort(const UnansweredPort&) = delete;
  UnansweredPort& operator=(const UnansweredPort&) = delete;
  int port() const { return port_; }

 private:
  int listener_ = -1;
  std::vector<int> fillers_;
  int port_ = 0;
};

}  // namespace cf::testing
