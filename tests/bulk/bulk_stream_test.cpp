// source::BulkSource reads export files while they download: pages reach the sink before a file has finished
// arriving, a file that breaks off keeps what arrived and marks its type incomplete, and (item 3 of issue 7)
// expired file links are followed again from the manifest read once more. Against a small in-process Bulk
// Data server on 127.0.0.1 whose file responses the test can hold back.
#define BOOST_TEST_MODULE bulk_stream
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "source/bulk_source.hpp"
#include "transport/http_client.hpp"

namespace {

using namespace std::chrono_literals;
using cf::source::BulkOptions;
using cf::source::BulkSource;
using cf::source::Page;

// One Patient line of about 400 bytes.
std::string patient_line(std::size_t i) {
  const std::string id = "sp-" + std::to_string(i);
  return R"({"resourceType":"Patient","id":")" + id +
         R"(","meta":{"versionId":"1","lastUpdated":"2026-11-20T02:00:00Z"},"active":true,"name":[{"use":"official","family":"Streaming","given":["Patient )" +
         std::to_string(i) + R"("],"text":")" + std::string(200, 'x') +
         R"("}],"gender":"female","birthDate":"1980-01-01"})" + "\n";
}

// A minimal HTTP/1.1 server: one request per connection ("Connection: close"), each handled on its own
// thread by `handler`, which writes the whole response itself.
class TinyServer {
 public:
  struct Request {
    std::string method, target;
    bool has_auth = false;
  };
  using Handler = std::function<void(int fd, const Request&)>;

  explicit TinyServer(Handler handler) : handler_(std::move(handler)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(listener_ >= 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(listener_, 16) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TinyServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    acceptor_.join();
    for (auto& t : workers_) t.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::size_t count(const std::string& method, const std::string& path_prefix) const {
    std::size_t n = 0;
    for (const auto& r : requests())
      if (r.method == method && r.target.rfind(path_prefix, 0) == 0) ++n;
    return n;
  }

  static bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  static void respond(int fd, int status, const std::string& body, const std::string& extra_headers = "") {
    write_all(fd, "HTTP/1.1 " + std::to_string(status) +
                      " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n" +
                      extra_headers + "\r\n" + body);
  }

 private:
  void accept_loop() {
    while (!stopping_) {
      const int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      std::lock_guard lock(mu_);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    std::string in;
    char buf[4096];
    while (in.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      in.append(buf, static_cast<std::size_t>(n));
    }
    Request r;
    const auto sp1 = in.find(' '), sp2 = in.find(' ', sp1 + 1);
    r.method = in.substr(0, sp1);
    r.target = in.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string lower = in;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.has_auth = lower.find("\r\nauthorization:") != std::string::npos;
    {
      std::lock_guard lock(mu_);
      requests_.push_back(r);
    }
    handler_(fd, r);
    ::shutdown(fd, SHUT_WR);
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
    ::close(fd);
  }

  Handler handler_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<std::thread> workers_;
  std::vector<Request> requests_;
};

std::string manifest(const std::string& base, const std::string& file_path, std::size_t count,
                     const std::string& transaction_time = "2026-11-26T01:00:00Z") {
  return R"({"transactionTime":")" + transaction_time + R"(","request":")" + base +
         R"(/fhir/$export?_type=Patient","requiresAccessToken":false,"output":[{"type":"Patient","url":")" +
         base + file_path + R"(","count":)" + std::to_string(count) + R"(}],"error":[]})";
}

// Answers kick-off, status and DELETE; files go to `file`.
TinyServer::Handler export_server(const std::string* base, std::function<std::string()> manifest_body,
                                  std::function<void(int, const TinyServer::Request&)> file) {
  return [=](int fd, const TinyServer::Request& r) {
    if (r.target.rfind("/fhir/$export", 0) == 0)
      TinyServer::respond(fd, 202, "", "Content-Location: " + *base + "/fhir/status/1\r\n");
    else if (r.target == "/fhir/status/1" && r.method == "DELETE")
      TinyServer::respond(fd, 202, "");
    else if (r.target == "/fhir/status/1")
      TinyServer::respond(fd, 200, manifest_body(), "Content-Type: application/json\r\n");
    else if (r.target.rfind("/files/", 0) == 0)
      file(fd, r);
    else
      TinyServer::respond(fd, 404, "no such path");
  };
}

std::shared_ptr<cf::transport::HttpClient> client(std::chrono::milliseconds total = 30s) {
  cf::transport::ClientOptions o;
  o.connect_timeout = 2s;
  o.read_timeout = 20s;
  o.total_timeout = total;
  o.retry.base_delay = 1ms;
  o.retry.max_delay = 5ms;
  auto c = cf::transport::HttpClient::create(o);
  BOOST_REQUIRE(c.ok());
  return std::shared_ptr<cf::transport::HttpClient>(std::move(*c));
}

BulkOptions options(const std::string& base) {
  BulkOptions o;
  o.base_url = base + "/fhir";
  o.types = {"Patient"};
  o.concurrency = 2;
  o.page_size = 100;
  o.poll_interval = 10ms;
  o.min_poll_interval = 10ms;
  o.max_poll_interval = 100ms;
  o.fetch_referenced_medications = false;
  return o;
}

// Sends `lines` of Patient lines as a chunked body, `per_chunk` lines per chunk, calling `between(k)` before
// the chunk that starts at line k; ends with the last chunk unless `cut` (then the connection just closes).
void send_lines_chunked(int fd, std::size_t lines, std::size_t per_chunk,
                        const std::function<void(std::size_t)>& between, bool cut = false) {
  TinyServer::write_all(fd,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/fhir+ndjson\r\nTransfer-Encoding: "
                        "chunked\r\nConnection: close\r\n\r\n");
  for (std::size_t k = 0; k < lines; k += per_chunk) {
    between(k);
    std::string chunk;
    for (std::size_t i = k; i < std::min(lines, k + per_chunk); ++i) chunk += patient_line(i);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
    if (!TinyServer::write_all(fd, size + chunk + "\r\n")) return;
  }
  if (!cut) TinyServer::write_all(fd, "0\r\n\r\n");
}

}  // namespace

// The file is 40000 lines (about 16 MB, hundreds of read buffers). The server sends the first half, then
// holds the rest back until the sink has received a page (at most 20 s). With the whole-file download of
// before, no page could reach the sink until the body was complete, so the server would wait out its 20 s and
// `page_before_end` would be false.
BOOST_AUTO_TEST_CASE(pages_reach_the_sink_while_the_file_is_still_downloading) {
  constexpr std::size_t kLines = 40000;
  std::mutex mu;
  std::condition_variable cv;
  std::size_t pages = 0, resources = 0;
  bool page_before_end = false;
  std::size_t resources_at_hold = 0;
  std::string base;
  TinyServer server(export_server(
      &base, [&] { return manifest(base, "/files/Patient.ndjson", kLines); },
      [&](int fd, const TinyServer::Request&) {
        send_lines_chunked(fd, kLines, 500, [&](std::size_t k) {
          if (k != kLines / 2) return;
          std::unique_lock lock(mu);
          page_before_end = cv.wait_for(lock, 20s, [&] { return pages > 0; });
          resources_at_hold = resources;
        });
      }));
  base = server.base();

  BulkSource src(options(base), client());
  cf::IssueLog issues;
  const auto start = std::chrono::steady_clock::now();
  const cf::Status st = src.read(
      [&](Page&& p) {
        std::lock_guard lock(mu);
        ++pages;
        resources += p.resources.size();
        cv.notify_all();
      },
      issues);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.error().what()));
  BOOST_TEST(page_before_end);  // a page arrived while half of the file was still on the server
  BOOST_TEST(resources_at_hold > 0u);
  BOOST_TEST(resources_at_hold <= kLines / 2);
  BOOST_TEST(seconds < 15.0);  // the server never had to wait out its 20 s
  BOOST_TEST(resources == kLines);
  BOOST_TEST(pages >= kLines / 100);
  BOOST_TEST(src.completeness().complete());
  BOOST_TEST(src.stats().read_by_type.at("Patient") == kLines);
  const auto c = src.counters();
  BOOST_TEST(c.files == 1u);
  BOOST_TEST(c.lines == kLines);
  BOOST_TEST(c.failed_files == 0u);
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < kLines; ++i) bytes += patient_line(i).size();
  BOOST_TEST(c.bytes == bytes);
  BOOST_TEST(server.count("GET", "/files/") == 1u);
}

// A file cut off mid-way (chunked stream closed without its last chunk), every time: the lines that arrived
// are used once (the two downloads again skip what was read, after checking it is the same), the cut one is
// not, and Patient is incomplete for the run.
BOOST_AUTO_TEST_CASE(a_file_cut_off_midway_keeps_what_arrived_and_marks_the_type_incomplete) {
  constexpr std::size_t kLines = 10000;
  std::string base;
  TinyServer server(export_server(
      &base, [&] { return manifest(base, "/files/Patient.ndjson", kLines); },
      [&](int fd, const TinyServer::Request&) {
        // 6000 whole lines, then half a line, then the connection closes.
        send_lines_chunked(
            fd, 6000, 1000, [](std::size_t) {}, true);
        const std::string half = patient_line(6000).substr(0, 100);
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", half.size());
        TinyServer::write_all(fd, size + half + "\r\n");
      }));
  base = server.base();
  BulkSource src(options(base), client());
  cf::IssueLog issues;
  std::size_t resources = 0;
  const cf::Status st = src.read([&](Page&& p) { resources += p.resources.size(); }, issues);
  BOOST_REQUIRE(st.ok());
  BOOST_TEST(resources == 6000u);
  BOOST_TEST(!src.completeness().complete());
  BOOST_TEST(src.completeness().run_types.count("Patient") == 1u);
  BOOST_TEST(src.counters().failed_files == 1u);
  BOOST_TEST(server.count("GET", "/files/") ==
             3u);  // RELIABILITY B7: downloaded again, at most 3 times in all
  bool reported = false;
  for (const auto& i : issues.issues())
    if (i.kind == "bulk-file-failed" &&
        i.message.find("connection closed before the response was complete") != std::string::npos &&
        i.message.find("Patient is incomplete for this run") != std::string::npos)
      reported = true;
  BOOST_TEST(reported);
}

namespace {

// An export whose file links "expire": the first manifest links /files/Patient.ndjson?sig=1, which answers
// `expired_status`; every later manifest links ?sig=2, which serves the file. `second_time` is the
// transactionTime of the later manifests.
struct ExpiringExport {
  int expired_status = 403;
  std::string second_time = "2026-11-26T01:00:00Z";
  std::size_t lines = 1000;
  std::string base;
  std::atomic<int> manifests{0};
  TinyServer server{export_server(
      &base,
      [this] {
        const int n = ++manifests;
        return n == 1 ? manifest(base, "/files/Patient.ndjson?sig=1", lines)
                      : manifest(base, "/files/Patient.ndjson?sig=2", lines, second_time);
      },
      [this](int fd, const TinyServer::Request& r) {
        if (r.target.find("sig=2") == std::string::npos)
          TinyServer::respond(
              fd, expired_status,
              R"({"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"expired"}]})");
        else
          send_lines_chunked(fd, lines, 250, [](std::size_t) {});
      })};
  ExpiringExport() { base = server.base(); }

  struct Outcome {
    cf::Status status;
    std::size_t resources = 0;
    bool complete = false;
    std::size_t rereads = 0;
  };
  Outcome read(std::chrono::milliseconds reread_after) {
    auto o = options(base);
    o.manifest_reread_after = reread_after;
    BulkSource src(o, client());
    cf::IssueLog issues;
    Outcome out;
    out.status = src.read([&](Page&& p) { out.resources += p.resources.size(); }, issues);
    out.complete = src.completeness().complete();
    out.rereads = src.counters().manifest_rereads;
    return out;
  }
};

}  // namespace

// Item 3 of issue 7: an expired link (401/403/404/410 before any byte) is followed again from a manifest read
// once more from the status URL, when the first manifest is old enough.
BOOST_AUTO_TEST_CASE(expired_file_links_are_renewed_from_the_manifest_once) {
  for (int status : {401, 403, 404, 410}) {
    BOOST_TEST_CONTEXT("HTTP " << status) {
      ExpiringExport e;
      e.expired_status = status;
      const auto r = e.read(0ms);
      BOOST_REQUIRE(r.status.ok());
      BOOST_TEST(r.complete);
      BOOST_TEST(r.resources == e.lines);
      BOOST_TEST(r.rereads == 1u);
      BOOST_TEST(e.manifests == 2);  // the poll, and the one re-read
      BOOST_TEST(e.server.count("GET", "/files/Patient.ndjson?sig=1") == 1u);
      BOOST_TEST(e.server.count("GET", "/files/Patient.ndjson?sig=2") == 1u);
    }
  }
}

BOOST_AUTO_TEST_CASE(a_young_manifest_or_another_export_is_not_reread_or_not_used) {
  {
    ExpiringExport e;  // the manifest is seconds old: a 403 is taken as it is
    const auto r = e.read(std::chrono::minutes(5));
    BOOST_REQUIRE(r.status.ok());
    BOOST_TEST(!r.complete);
    BOOST_TEST(r.resources == 0u);
    BOOST_TEST(r.rereads == 0u);
    BOOST_TEST(e.manifests == 1);
    BOOST_TEST(e.server.count("GET", "/files/Patient.ndjson?sig=2") == 0u);
  }
  {
    ExpiringExport e;
    e.second_time = "2026-11-26T02:00:00Z";  // the status URL now describes another export
    const auto r = e.read(0ms);
    BOOST_REQUIRE(r.status.ok());
    BOOST_TEST(!r.complete);
    BOOST_TEST(r.rereads == 0u);
    BOOST_TEST(e.manifests == 2);
    BOOST_TEST(e.server.count("GET", "/files/Patient.ndjson?sig=2") == 0u);
  }
  {
    ExpiringExport e;
    e.expired_status = 500;  // not an expired link
    const auto r = e.read(0ms);
    BOOST_REQUIRE(r.status.ok());
    BOOST_TEST(!r.complete);
    BOOST_TEST(e.manifests == 1);
  }
}
