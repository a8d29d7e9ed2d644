#pragma once
// What one `run` needs, merged from (lowest to highest precedence) defaults, a JSON config file (--config),
// the environment (COHORT_*) and the command line. Secrets come only from the environment or files, never the
// command line, and are never printed.
#include <map>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace cf::cli {

struct Settings {
  std::vector<std::string> sources;  // folders/files, or one http(s) FHIR base URL
  std::string trial, mappings, out = "cohort-output", as_of, prefilter = "on", state;
  // FHIR server
  std::string mode = "seed";  // seed | population
  // Requests at once: 0 = 4 for searches, 2 for Bulk file downloads (RELIABILITY T12: parallel downloads of
  // many files draw 429 storms); the client lowers it further while a server answers 429/503.
  int concurrency = 0, page_size = 1000;
  int threads = 0;            // NDJSON parsing and evaluation threads; 0 = one per core
  int memory_budget_mb = 32;  // kept resources beyond this are spilled to scratch files in the output folder
  int full_every_days = 7;    // with a state folder: a full pull at least this often (deletions)
  int keep_lines = 0;         // with a state folder: results lines of the last N runs (0: all)
  int connect_timeout_s = 10, read_timeout_s = 60, total_timeout_s = 300;
  std::string ca_file;
  bool strict_metadata = false;
  bool search_by_get = false;  // patient ids in search URLs instead of POST _search bodies (RELIABILITY P9)
  std::string auth = "none";   // none | bearer | basic | smart
  // Secrets only in files (RELIABILITY H2; core/secret_file.hpp): the bearer token, the basic-auth password.
  std::string token_file, password_file;
  std::string basic_user;
  // SMART Backend Services (auth = smart): the private key is a PEM file, never inline.
  std::string smart_client_id, smart_key_file, smart_kid, smart_alg, smart_scopes, smart_token_endpoint;
  std::string smart_token_origins;  // space-separated origins a discovered token endpoint may be on (A5)
  std::string observation_since;
  // Bulk Data $export instead of searches (source/bulk_source.hpp): which export, system | patient |
  // group:ID.
  bool bulk = false;
  std::string bulk_level = "system";
  // Output
  bool quiet = false;
  std::string log_format = "text";             // text | json (JSON lines on stderr, for cron)
  std::string ineligible_detail = "deciding";  // deciding | full (report::IneligibleDetail)

  bool is_server() const;
};

// Applies a config file's members to `s`. Errors name the file and the member.
Status apply_config_file(const std::string& path, Settings& s);
// Applies COHORT_* environment variables.
Status apply_environment(Settings& s);
// The Authorization header value for the configured auth, read from the environment or the token file.
Result<std::string> authorization(const Settings& s);

}  // namespace cf::cli
