#pragma once
// Throwaway certificates for TLS tests, made with the openssl CLI in a fresh temporary directory (removed
// again in the destructor): a test CA and server certificates issued by it.
#include <string>
#include <vector>

namespace cf::testing {

struct CertificateFiles {
  std::string cert;
  std::string key;
};

class TestPki {
 public:
  TestPki();  // throws with the openssl output when a command fails
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  std::string ca_file;          // the test CA (PEM): trust it with ClientOptions::ca_file
  CertificateFiles server;      // SAN DNS:localhost, IP:127.0.0.1; valid for 2 days
  CertificateFiles expired;     // same names, expired yesterday
  CertificateFiles wrong_host;  // SAN DNS:wrong.test only
  std::string directory;

 private:
  void run(const std::vector<std::string>& argv);
  CertificateFiles issue(const std::string& name, const std::string& san, const std::string& days);
  std::string log_file_;
};

}  // namespace cf::testing
