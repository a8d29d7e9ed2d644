#include "cli/settings.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/base64.hpp"
#include "core/secret_file.hpp"
#include "core/text.hpp"
#include "json/json.hpp"

namespace cf::cli {

bool Settings::is_server() const {
  return sources.size() == 1 && (sources[0].rfind("http://", 0) == 0 || sources[0].rfind("https://", 0) == 0);
}

namespace {

Result<std::string> read_text(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(std::string("cannot read ") + what, path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool to_int(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

}  // namespace

Status apply_config_file(const std::string& path, Settings& s) {
  auto text = read_text(path, "config file");
  if (!text) return text.error();
  json::Document doc;
  json::ParseError err;
  if (!json::parse(*text, doc, err))
    return make_error(err.message, path + ":" + std::to_string(err.line) + ":" + std::to_string(err.column));
  if (!doc.IsObject()) return make_error("a config file is a JSON object", path);
  const json::Value& root =
      doc;  // const iterators: clang flags RapidJSON's non-const ones as ambiguous in C++20
  for (auto it = root.MemberBegin(); it != root.MemberEnd(); ++it) {
    const std::string key(it->name.GetString(), it->name.GetStringLength());
    const json::Value* v = &it->value;
    auto str = json::string(v);
    auto num = json::number_text(v);
    auto b = json::boolean(v);
    auto bad = [&](const char* want) {
      return make_error(std::string("expected ") + want, path + ": " + key);
    };
    int n = 0;
    if (key == "source") {
      s.sources.clear();
      if (str)
        s.sources.emplace_back(*str);
      else if (json::is_array(v))
        json::for_each(v, [&](std::size_t, const json::Value& x) {
          s.sources.emplace_back(json::string(&x).value_or(""));
        });
      else
        return bad("a string or an array of strings");
    } else if (key == "trial" || key == "mappings" || key == "out" || key == "as_of" || key == "mode" ||
               key == "ca_file" || key == "auth" || key == "token_file" || key == "password_file" ||
               key == "basic_user" || key == "observation_since" || key == "log_format" ||
               key == "prefilter" || key == "state" || key == "bulk_level" || key == "ineligible_detail" ||
               key.rfind("smart_", 0) == 0) {
      if (!str) return bad("a string");
      std::string& dst = key == "trial"                  ? s.trial
                         : key == "mappings"             ? s.mappings
                         : key == "out"                  ? s.out
                         : key == "as_of"                ? s.as_of
                         : key == "mode"                 ? s.mode
                         : key == "ca_file"              ? s.ca_file
                         : key == "auth"                 ? s.auth
                         : key == "token_file"           ? s.token_file
                         : key == "password_file"        ? s.password_file
                         : key == "basic_user"           ? s.basic_user
                         : key == "observation_since"    ? s.observation_since
                         : key == "log_format"           ? s.log_format
                         : key == "state"                ? s.state
                         : key == "smart_client_id"      ? s.smart_client_id
                         : key == "smart_key_file"       ? s.smart_key_file
                         : key == "smart_kid"            ? s.smart_kid
                         : key == "smart_alg"            ? s.smart_alg
                         : key == "smart_scopes"         ? s.smart_scopes
                         : key == "smart_token_endpoint" ? s.smart_token_endpoint
                         : key == "smart_token_origins"  ? s.smart_token_origins
                         : key == "bulk_level"           ? s.bulk_level
                         : key == "ineligible_detail"    ? s.ineligible_detail
                                                         : s.prefilter;
      if (key.rfind("smart_", 0) == 0 && &dst == &s.prefilter)
        return make_error("unknown setting", path + ": " + key);
      dst = std::string(*str);
    } else if (key == "concurrency" || key == "page_size" || key == "connect_timeout_s" ||
               key == "read_timeout_s" || key == "total_timeout_s" || key == "memory_budget_mb" ||
               key == "keep_lines" || key == "full_every_days") {
      if (!num || !to_int(*num, n) || n <= 0) return bad("a positive whole number");
      int& dst = key == "concurrency"         ? s.concurrency
                 : key == "page_size"         ? s.page_size
                 : key == "connect_timeout_s" ? s.connect_timeout_s
                 : key == "read_timeout_s"    ? s.read_timeout_s
                 : key == "memory_budget_mb"  ? s.memory_budget_mb
                 : key == "keep_lines"        ? s.keep_lines
                 : key == "full_every_days"   ? s.full_every_days
                                              : s.total_timeout_s;
      dst = n;
    } else if (key == "strict_metadata" || key == "quiet" || key == "bulk" || key == "search_by_get") {
      if (!b) return bad("true or false");
      (key == "quiet"           ? s.quiet
       : key == "bulk"          ? s.bulk
       : key == "search_by_get" ? s.search_by_get
                                : s.strict_metadata) = *b;
    } else if (key == "token" || key == "password") {
      return make_error("secrets do not belong in the config file: use token_file or password_file",
                        path + ": " + key);
    } else if (key.rfind("comment", 0) != 0) {
      return make_error("unknown setting", path + ": " + key);
    }
  }
  return Status::success();
}

Status apply_environment(Settings& s) {
  // RELIABILITY H2: secrets from files only. A variable that used to carry one is refused, not ignored, so
  // that a deployment still passing it learns to move it; whatever the source, since the variable is in every
  // process the run starts either way.
  for (const char* old : {"COHORT_FHIR_TOKEN", "COHORT_FHIR_PASSWORD"})
    if (const char* v = std::getenv(old); v && *v)
      return make_error(
          std::string(old) +
              " is set: secrets are not read from the environment (every child process inherits "
              "it, /proc shows it); put it in a file only this user can read and give "
              "token_file or password_file, or a systemd credential (deploy/README.md)",
          "auth");
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
  };
  if (auto v = env("COHORT_FHIR_BASE_URL")) s.sources = {v};
  if (auto v = env("COHORT_FHIR_AUTH")) s.auth = v;
  if (auto v = env("COHORT_FHIR_TOKEN_FILE")) s.token_file = v;
  if (auto v = env("COHORT_FHIR_PASSWORD_FILE")) s.password_file = v;
  if (auto v = env("COHORT_FHIR_USER")) s.basic_user = v;
  if (auto v = env("COHORT_CA_FILE")) s.ca_file = v;
  if (auto v = env("COHORT_FHIR_MODE")) s.mode = v;
  if (auto v = env("COHORT_STATE_DIR")) s.state = v;
  if (auto v = env("COHORT_SMART_CLIENT_ID")) s.smart_client_id = v;
  if (auto v = env("COHORT_SMART_KEY_FILE")) s.smart_key_file = v;
  if (auto v = env("COHORT_SMART_KID")) s.smart_kid = v;
  if (auto v = env("COHORT_SMART_ALG")) s.smart_alg = v;
  if (auto v = env("COHORT_SMART_SCOPES")) s.smart_scopes = v;
  if (auto v = env("COHORT_FHIR_CONCURRENCY"))
    if (!to_int(v, s.concurrency) || s.concurrency <= 0)
      return make_error("not a positive number", "COHORT_FHIR_CONCURRENCY");
  if (auto v = env("COHORT_FHIR_PAGE_SIZE"))
    if (!to_int(v, s.page_size) || s.page_size <= 0)
      return make_error("not a positive number", "COHORT_FHIR_PAGE_SIZE");
  // systemd credentials (LoadCredential=, deploy/systemd): files only the service can read, used when no
  // file was configured.
  if (auto dir = env("CREDENTIALS_DIRECTORY")) {
    for (auto [name, file] :
         {std::pair{"fhir-token", &s.token_file}, std::pair{"fhir-password", &s.password_file},
          std::pair{"smart-key", &s.smart_key_file}}) {
      std::error_code ec;
      const auto path = std::filesystem::path(dir) / name;
      if (file->empty() && std::filesystem::exists(path, ec)) *file = path.string();
    }
  }
  return Status::success();
}

Result<std::string> authorization(const Settings& s) {
  if (s.auth == "none" || s.auth == "smart") return std::string();  // SmartAuth supplies its own header
  if (s.auth == "bearer") {
    if (s.token_file.empty())
      return make_error(
          "bearer auth needs token_file (--token-file FILE) or the systemd credential fhir-token", "auth");
    auto t = read_secret_file(s.token_file, "token file");
    if (!t) return t.error();
    const std::string token(trim(*t));
    if (token.empty()) return make_error("the token file is empty", s.token_file);
    return "Bearer " + token;
  }
  if (s.auth == "basic") {
    if (s.basic_user.empty() || s.password_file.empty())
      return make_error(
          "basic auth needs basic_user (--basic-user, COHORT_FHIR_USER) and password_file (--password-file "
          "FILE) or the systemd credential fhir-password",
          "auth");
    auto p = read_secret_file(s.password_file, "password file");
    if (!p) return p.error();
    std::string password = *p;
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
    return "Basic " + base64_encode(s.basic_user + ":" + password);
  }
  return make_error("auth must be none, bearer, basic or smart", "auth");
}

}  // namespace cf::cli
