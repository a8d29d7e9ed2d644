#include "fault-server/fault_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdint>
#include <sstream>
#include <stdexcept>

namespace cf::testing {
namespace {

std::vector<std::string> fault_server_argv(const FaultServerOptions& options) {
  std::vector<std::string> argv = {CF_NODE_EXECUTABLE, CF_FAULT_SERVER_SCRIPT};
  if (!options.cert_file.empty()) {
    argv.insert(argv.end(), {"--cert", options.cert_file, "--key", options.key_file});
  }
  return argv;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, sep)) out.push_back(item);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

class Socket {
 public:
  Socket() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket() failed");
  }
  ~Socket() { close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

bool RecordedRequest::has_header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.first, name)) return true;
  return false;
}

std::string RecordedRequest::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.first, name)) return h.second;
  return {};
}

FaultServer::FaultServer(FaultServerOptions options)
    : process_(fault_server_argv(options)), scheme_(options.cert_file.empty() ? "http" : "https") {
  const std::string line = process_.read_line(std::chrono::seconds(20));
  std::istringstream in(line);
  std::string word;
  int second = 0;
  in >> word >> port_ >> control_port_ >> silent_port_ >> second;
  if (word != "ports" || !in) throw std::runtime_error("unexpected fault server greeting: " + line);
  second_host_ = second == 1;
}

std::string FaultServer::url(std::string_view path_and_query, std::string_view host) const {
  return scheme_ + "://" + std::string(host) + ":" + std::to_string(port_) + std::string(path_and_query);
}

// A minimal HTTP/1.0 GET to the control listener (plain HTTP even when the main listener speaks TLS).
std::string FaultServer::control(std::string_view path) const {
  Socket s;
  const sockaddr_in addr = loopback(control_port_);
  if (connect(s.fd(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("cannot reach the fault server control port");
  const std::string request = "GET " + std::string(path) + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(s.fd(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
    throw std::runtime_error("cannot send to the fault server control port");
  std::string response;
  char buf[4096];
  while (true) {
    pollfd p{s.fd(), POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) throw std::runtime_error("fault server control port timed out");
    const ssize_t n = recv(s.fd(), buf, sizeof buf, 0);
    if (n < 0) throw std::runtime_error("fault server control read failed");
    if (n == 0) break;
    response.append(buf, static_cast<std::size_t>(n));
  }
  const std::size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 200", 0) != 0 || body == std::string::npos)
    throw std::runtime_error("fault server control request failed: " + response.substr(0, 40));
  return response.substr(body + 4);
}

std::vector<RecordedRequest> FaultServer::requests() const {
  std::vector<RecordedRequest> out;
  for (const std::string& line : split(control("/requests"), '\n')) {
    const std::vector<std::string> fields = split(line, '\t');
    if (fields.size() < 5) continue;
    RecordedRequest r;
    r.connection = std::stoi(fields[0]);
    r.local_address = fields[1];
    r.tls_server_name = fields[2] == "-" ? "" : fields[2];
    r.method = fields[3];
    r.target = fields[4];
    for (std::size_t i = 5; i < fields.size(); ++i) {
      const std::size_t colon = fields[i].find(": ");
      r.headers.emplace_back(fields[i].substr(0, colon),
                             colon == std::string::npos ? "" : fields[i].substr(colon + 2));
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::size_t FaultServer::count(std::string_view target) const {
  std::size_t n = 0;
  for (const auto& r : requests()) n += r.target == target ? 1 : 0;
  return n;
}

AddressStats FaultServer::stats(std::string_view address) const {
  for (const std::string& line : split(control("/stats"), '\n')) {
    std::istringstream in(line);
    std::string addr;
    AddressStats s;
    in >> addr >> s.tcp_connections >> s.open >> s.max_open >> s.tls_failures;
    if (in && addr == address) return s;
  }
  return {};
}

void FaultServer::reset() {
  control("/reset");
}

int unused_port() {
  Socket s;
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (bind(s.fd(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(s.fd(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("cannot find a free port");
  return ntohs(addr.sin_port);
}

UnansweredPort::UnansweredPort() {
  listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listener_, 0) != 0 || getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("cannot set up an unanswered port");
  port_ = ntohs(addr.sin_port);
  // Connect until one attempt stays pending: from then on the accept queue is full and SYNs are dropped.
  for (int i = 0; i < 16; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    fillers_.push_back(fd);
    const sockaddr_in target = loopback(port_);
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target), sizeof target) == 0) continue;
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, 200) == 0) return;  // this one hangs: the queue is full
  }
  throw std::runtime_error("could not fill the accept queue of the unanswered port");
}

UnansweredPort::~UnansweredPort() {
  for (int fd : fillers_) close(fd);
  if (listener_ >= 0) close(listener_);
}

}  // namespace cf::testing
