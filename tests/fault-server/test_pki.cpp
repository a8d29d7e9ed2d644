#include "fault-server/test_pki.hpp"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "fault-server/subprocess.hpp"

namespace cf::testing {
namespace {

const std::vector<std::string> kEcKey = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                         "-nodes"};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TestPki::TestPki() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "cf-transport-pki-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  directory = tmpl;
  log_file_ = directory + "/openssl.log";
  ca_file = directory + "/ca.pem";
  run(concat({CF_OPENSSL_EXECUTABLE, "req", "-x509"},
             concat(kEcKey, {"-keyout", directory + "/ca.key", "-out", ca_file, "-days", "2", "-subj",
                             "/CN=cohort-finder test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                             "-addext", "keyUsage=critical,keyCertSign,cRLSign"})));
  server = issue("server", "DNS:localhost,IP:127.0.0.1", "2");
  // A negative validity gives notAfter one day in the past: expired.
  expired = issue("expired", "DNS:localhost,IP:127.0.0.1", "-1");
  wrong_host = issue("wrong-host", "DNS:wrong.test", "2");
}

TestPki::~TestPki() {
  std::error_code ignored;
  std::filesystem::remove_all(directory, ignored);
}

void TestPki::run(const std::vector<std::string>& argv) {
  if (run_command(argv, log_file_) != 0) {
    std::ifstream log(log_file_);
    std::stringstream text;
    text << log.rdbuf();
    throw std::runtime_error("openssl failed (" + argv[1] + "): " + text.str());
  }
}

CertificateFiles TestPki::issue(const std::string& name, const std::string& san, const std::string& days) {
  const std::string base = directory + "/" + name;
  std::ofstream(base + ".ext") << "subjectAltName=" << san
                               << "\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                                  "extendedKeyUsage=serverAuth\n";
  run(concat({CF_OPENSSL_EXECUTABLE, "req", "-new"},
             concat(kEcKey, {"-keyout", base + ".key", "-out", base + ".csr", "-subj", "/CN=" + name})));
  run({CF_OPENSSL_EXECUTABLE, "x509", "-req", "-in", base + ".csr", "-CA", ca_file, "-CAkey",
       directory + "/ca.key", "-CAcreateserial", "-out", base + ".pem", "-days", days, "-extfile",
       base + ".ext"});
  return {base + ".pem", base + ".key"};
}

}  // namespace cf::testing
