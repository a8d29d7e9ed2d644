#include "auth_fixture.hpp"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "json/json.hpp"

namespace cf::auth_test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> server_argv(const std::string& public_key, const std::string& alg,
                                     const std::vector<std::string>& args,
                                     const cf::testing::CertificateFiles* tls) {
  std::vector<std::string> argv = {CF_NODE_EXECUTABLE,
                                   CF_TOKEN_SERVER_SCRIPT,
                                   "--public-key",
                                   public_key,
                                   "--alg",
                                   alg,
                                   "--kid",
                                   kKid,
                                   "--client-id",
                                   kClientId};
  argv.insert(argv.end(), args.begin(), args.end());
  if (tls) argv.insert(argv.end(), {"--cert", tls->cert, "--key", tls->key});
  return argv;
}

class KeyDirectory {
 public:
  KeyDirectory() {
    std::string tmpl = (fs::temp_directory_path() / "cf-auth-keys-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    k.dir = tmpl;
    log_ = k.dir + "/openssl.log";
    k.rsa = file("rsa.pem");
    k.rsa_pub = file("rsa.pub.pem");
    k.ec = file("ec.pem");
    k.ec_pub = file("ec.pub.pem");
    k.rsa_traditional = file("rsa-pkcs1.pem");
    k.ec_traditional = file("ec-sec1.pem");
    k.ec_p256 = file("ec-p256.pem");
    k.ec_encrypted = file("ec-encrypted.pem");
    k.certificate = file("cert.pem");
    k.garbage = file("garbage.pem");
    const std::string o = CF_OPENSSL_EXECUTABLE;
    run({o, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k.rsa});
    run({o, "pkey", "-in", k.rsa, "-pubout", "-out", k.rsa_pub});
    run({o, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", k.ec});
    run({o, "pkey", "-in", k.ec, "-pubout", "-out", k.ec_pub});
    run({o, "rsa", "-in", k.rsa, "-traditional", "-out", k.rsa_traditional});
    run({o, "ec", "-in", k.ec, "-out", k.ec_traditional});
    run({o, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", k.ec_p256});
    run({o, "pkey", "-in", k.ec, "-aes256", "-passout", "pass:test-passphrase", "-out", k.ec_encrypted});
    run({o, "req", "-x509", "-key", k.ec, "-subj", "/CN=not a key", "-days", "1", "-out", k.certificate});
    std::ofstream(k.garbage) << "this is not a key\n";
    for (const auto* f : {&k.rsa, &k.rsa_pub, &k.ec, &k.ec_pub, &k.rsa_traditional, &k.ec_traditional,
                          &k.ec_p256, &k.ec_encrypted, &k.certificate, &k.garbage})
      fs::permissions(*f, fs::perms::owner_read | fs::perms::owner_write);
  }
  ~KeyDirectory() {
    std::error_code ignored;
    fs::remove_all(k.dir, ignored);
  }
  KeyFiles k;

 private:
  std::string file(const char* name) const { return k.dir + "/" + name; }
  void run(const std::vector<std::string>& argv) {
    if (cf::testing::run_command(argv, log_) != 0) {
      std::ifstream log(log_);
      std::stringstream text;
      text << log.rdbuf();
      throw std::runtime_error("openssl " + argv[1] + " failed: " + text.str());
    }
  }
  std::string log_;
};

std::string text_of(const json::Value& record, const char* key) {
  return std::string(json::string(json::member(record, key)).value_or(""));
}
long long number_of(const json::Value& record, const char* key) {
  auto n = json::number_text(json::member(record, key));
  return n ? std::stoll(std::string(*n)) : -1;
}

json::Document parse_or_throw(const std::string& text) {
  json::Document doc;
  json::ParseError err;
  if (!json::parse(text, doc, err))
    throw std::runtime_error("token server sent invalid JSON: " + err.message);
  return doc;
}

}  // namespace

const KeyFiles& keys() {
  static const KeyDirectory instance;  // made once per test run, removed at exit
  return instance.k;
}

std::vector<std::string> pem_body_lines(const std::string& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.rfind("-----", 0) != 0 && line.find(':') == std::string::npos)
      out.push_back(line);
  return out;
}

TokenServer::TokenServer(const std::string& public_key, const std::string& alg, std::vector<std::string> args,
                         const cf::testing::CertificateFiles* tls)
    : process_(server_argv(public_key, alg, args, tls)) {
  const std::string line = process_.read_line(std::chrono::seconds(20));
  std::istringstream in(line);
  std::string word;
  in >> word >> port_ >> tls_port_;
  if (word != "ports" || !in) throw std::runtime_error("unexpected token server greeting: " + line);
  cf::transport::ClientOptions o;
  o.retry.max_attempts = 1;
  auto client = cf::transport::HttpClient::create(o);
  if (!client) throw std::runtime_error(client.error().what());
  control_client_ = std::move(*client);
}

std::string TokenServer::control(const std::string& path) const {
  cf::transport::Request r;
  auto url = cf::transport::Url::parse(origin() + path);
  if (!url) throw std::runtime_error(url.error().what());
  r.url = *url;
  auto resp = control_client_->send(r);
  if (!resp || resp->status != 200) throw std::runtime_error("token server control request failed: " + path);
  return resp->body;
}

std::vector<TokenRequest> TokenServer::token_requests() const {
  const json::Document doc = parse_or_throw(control("/_control/token-requests"));
  std::vector<TokenRequest> out;
  json::for_each(&doc, [&](std::size_t, const json::Value& r) {
    TokenRequest t;
    json::for_each(json::member(r, "violations"), [&](std::size_t, const json::Value& v) {
      t.violations.emplace_back(json::string(&v).value_or(""));
    });
    t.scheme = text_of(r, "scheme");
    t.alg = text_of(r, "alg");
    t.typ = text_of(r, "typ");
    t.kid = text_of(r, "kid");
    t.iss = text_of(r, "iss");
    t.sub = text_of(r, "sub");
    t.aud = text_of(r, "aud");
    t.jti = text_of(r, "jti");
    t.header_keys = text_of(r, "header_keys");
    t.claim_keys = text_of(r, "claim_keys");
    t.exp = number_of(r, "exp");
    t.iat = number_of(r, "iat");
    t.sig_bytes = number_of(r, "sig_bytes");
    t.grant_type = text_of(r, "grant_type");
    t.scope = text_of(r, "scope");
    t.client_assertion_type = text_of(r, "client_assertion_type");
    t.content_type = text_of(r, "content_type");
    t.form_keys = text_of(r, "form_keys");
    t.assertion = text_of(r, "assertion");
    t.issued = text_of(r, "issued");
    out.push_back(std::move(t));
  });
  return out;
}

Counts TokenServer::counts() const {
  const json::Document doc = parse_or_throw(control("/_control/counts"));
  return {number_of(doc, "discovery"), number_of(doc, "token"), number_of(doc, "fhir"),
          number_of(doc, "fhir_401")};
}

void TokenServer::revoke_tokens() const {
  control("/_control/revoke");
}

int TokenServer::get_patient(const std::string& authorization) const {
  cf::transport::Request r;
  r.url = *cf::transport::Url::parse(base() + "/Patient");
  r.headers.emplace_back("Authorization", authorization);
  auto resp = control_client_->send(r);
  if (!resp) throw std::runtime_error("GET /fhir/Patient failed: " + resp.error().what());
  return resp->status;
}

}  // namespace cf::auth_test
