#include "cli/cli.hpp"

#include <unistd.h>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "app/audit_anchor.hpp"
#include "app/merge.hpp"
#include "app/run.hpp"
#include "cli/settings.hpp"
#include "core/text.hpp"
#include "json/json.hpp"
#include "report/outputs.hpp"
#include "report/privacy.hpp"
#include "source/bulk_source.hpp"
#include "source/file_source.hpp"
#include "source/rest_source.hpp"
#include "store/state_store.hpp"
#include "transport/http_client.hpp"

#ifndef COHORT_DATA_DIR
#define COHORT_DATA_DIR "/usr/share/cohort-finder"
#endif

namespace cf::cli {

namespace fs = std::filesystem;

namespace {

const char* kUsageText =
    "cohort-finder: find patients who may be eligible for a clinical trial in FHIR R4 data\n"
    "\n"
    "Usage:\n"
    "  cohort-finder run [--source DIR|FILE] [--trial FILE] [--mappings DIR] [--as-of YYYY-MM-DD] [--out "
    "DIR]\n"
    "  cohort-finder explain PATIENT_ID [--out DIR | --state DIR [--run N]]\n"
    "  cohort-finder history --state DIR\n"
    "  cohort-finder audit --state DIR [ANCHOR...]\n"
    "  cohort-finder merge --out DIR SHARD_DIR...\n"
    "  cohort-finder feedback PATIENT_ID --status screened|enrolled|declined|not-eligible [--note TEXT] "
    "--state DIR\n"
    "  cohort-finder version\n"
    "  cohort-finder help [COMMAND]\n"
    "\n"
    "Exit codes: 0 complete; 1 bug; 2 bad command line, settings or credentials (config file,\n"
    "            environment, secret, key or CA file); 3 invalid trial definition or mappings; 4 source\n"
    "            or output failure, or a state folder that cannot be used; 5 outputs written but some\n"
    "            input could not be read (affected decisions are 'unknown'); 6 another run holds the\n"
    "            state folder; 7 (audit) the audit log does not verify.\n";

const char* kRunHelp =
    "cohort-finder run: one search\n"
    "  --source PATH   a folder of *.ndjson (one resource per line) and/or *.json Bundles, or one file;\n"
    "                  repeatable (default: the bundled demo data, fhir-samples/ndjson and "
    "fhir-samples/bundles)\n"
    "  --trial FILE    trial definition (default: mappings/trials/nct07177911.json)\n"
    "  --mappings DIR  code, unit and drug maps (default: mappings/)\n"
    "  --as-of DATE    the index date every window and age is counted from (default: today, UTC)\n"
    "  --out DIR       output folder (default: ./cohort-output)\n"
    "  --state DIR     keep runs, results, feedback, pulled resources and an audit log here (SQLite, "
    "private);\n"
    "                  adds changes.csv. From a FHIR server, later runs pull only what changed "
    "(_lastUpdated)\n"
    "  --full true     with --state: pull everything again and drop what the server no longer has\n"
    "  --full-every-days N  with --state: pull everything again when the last full pull is N days old or\n"
    "                  more (default 7): a search for changes cannot see what the server deleted\n"
    "  --keep-lines N  with --state: keep the results lines (reasons, evidence) of the last N runs;\n"
    "                  older runs keep their decisions (tier, rank, score, outcomes). Default: all\n"
    "  --prefilter on|off  skip NDJSON lines that no criterion can use before parsing them (default on)\n"
    "  --threads N     parse NDJSON files and evaluate patients with N threads (default: one per core); "
    "results\n"
    "                  do not depend on N\n"
    "  --memory-budget MB  kept resources beyond this go to unlinked scratch files in the output folder and "
    "patients\n"
    "                  are evaluated a partition at a time (default 32); results do not depend on it\n"
    "  --ineligible-detail deciding|full  deciding (default): an ineligible patient's line in results.ndjson "
    "gives\n"
    "                  reasons and evidence for the criteria that excluded them, the others' outcome only; "
    "full: all\n"
    "  --shard K/N     evaluate only shard K of N of the patients (stable hash of the id); combine the N "
    "output\n"
    "                  folders with `cohort-finder merge`\n"
    "  --export-mode identified|limited|deidentified|safe-harbor|counts  what outputs may contain (default "
    "identified):\n"
    "                  limited drops names; deidentified: keyed pseudonyms, dates shifted up to 30 days per "
    "patient, no\n"
    "                  free text; safe-harbor: as deidentified, but dates as years and ages over 89 as 90+; "
    "counts:\n"
    "                  attrition.csv and manifest.json only, counts of patients under the small-cell rule\n"
    "  --min-cell-count N  counts: a count from 1 to N-1 is shown as <N (default 11)\n"
    "  --round-counts-to N counts: larger counts are rounded to a multiple of N (default 5)\n"
    "  --pseudonym-key FILE  secret of at least 32 bytes (head -c 48 /dev/urandom | base64); keep it away "
    "from outputs\n"
    "  --config FILE   JSON settings; COHORT_* environment variables override it, options override both.\n"
    "                  Its members (any other is an error): strings source (or an array of them),\n"
    "                  trial, mappings, out, as_of, state, prefilter, ineligible_detail, mode, auth,\n"
    "                  token_file, password_file, basic_user, ca_file, smart_client_id, smart_key_file,\n"
    "                  smart_kid, smart_alg, smart_scopes, smart_token_endpoint, smart_token_origins,\n"
    "                  bulk_level, log_format, observation_since; positive whole numbers concurrency,\n"
    "                  page_size, memory_budget_mb, keep_lines, full_every_days, connect_timeout_s,\n"
    "                  read_timeout_s, total_timeout_s; true or false bulk, quiet, strict_metadata,\n"
    "                  search_by_get; members whose name starts with \"comment\" are ignored.\n"
    "                  Options only: --check, --full, --threads, --shard, --export-mode, --pseudonym-key,\n"
    "                  --min-cell-count, --round-counts-to. Config only: the timeouts in seconds (default\n"
    "                  10 to connect and for the TLS handshake, 60 of silence, 300 per request attempt)\n"
    "                  and observation_since YYYY-MM-DD (a FHIR server's Observation searches then ask\n"
    "                  only for results dated on or after it)\n"
    "FHIR server (when --source is an https base URL; plain http only to this machine, e.g. a local proxy):\n"
    "  --mode seed|population  seed: patients with an SLE diagnosis or serology, then their data (default);\n"
    "                  population: every patient\n"
    "  --concurrency N parallel requests (default 4; 2 with --bulk; lowered while the server answers\n"
    "                  429/503)   --page-size N  _count (default 1000)\n"
    "  --ca-file FILE  trust this CA bundle instead of the system store (TLS is always verified)\n"
    "  --auth none|bearer|basic|smart  bearer: --token-file FILE; basic: --basic-user NAME and\n"
    "                  --password-file FILE. Secrets only in files (chmod 600; systemd credentials "
    "fhir-token,\n"
    "                  fhir-password, smart-key), never on the command line or in the environment.\n"
    "  --auth smart    SMART Backend Services: --smart-client-id ID --smart-key FILE (PEM, RSA >= 2048 or EC "
    "P-384,\n"
    "                  chmod 600) --smart-kid KID [--smart-alg RS384|ES384] [--smart-scopes "
    "\"system/Patient.rs ...\"]\n"
    "                  [--smart-token-origins \"https://auth.example.org ...\"] (where a discovered "
    "endpoint\n"
    "                  may be when not on the FHIR server's origin)\n"
    "                  [--smart-token-endpoint URL] (default: discovered from "
    ".well-known/smart-configuration)\n"
    "  --strict-metadata true  fail when /metadata does not list a search parameter the plan uses\n"
    "  --search-by-get true  searches for given patients put their ids in the URL (GET) instead of a\n"
    "                  POST [type]/_search form body, for a server that takes no POST searches\n"
    "  --bulk true     read with a Bulk Data $export (v2; v1 servers tolerated) instead of searches: with "
    "--state,\n"
    "                  later runs export only what changed (_since) and a killed run resumes its export job\n"
    "  --bulk-level system|patient|group:ID  which $export (default system); --concurrency N files at once\n"
    "  --log-format text|json  progress on stderr (json: one JSON object per line, for cron); --quiet true\n"
    "                  leaves only warnings, errors and the audit log's head (with --state)\n"
    "  --check true    load the settings, trial definition and mappings and, for a server, check its URL\n"
    "                  and CA file and read the bearer or basic auth token or password file; contact no\n"
    "                  server, read no data; exit 0 if all is well\n"
    "Writes candidates.csv, results.ndjson, attrition.csv, data_issues.ndjson, report.html "
    "(self-contained),\n"
    "group.json (FHIR R4 Group of the candidates) and manifest.json; with --state also changes.csv;\n"
    "--export-mode counts writes attrition.csv and manifest.json only.\n"
    "Environment: COHORT_DATA_DIR overrides where mappings/ and fhir-samples/ are found.\n";

const char* kExplainHelp =
    "cohort-finder explain PATIENT_ID [--out DIR | --state DIR [--run N]]\n"
    "  Prints each criterion's decision for the patient and the data behind it, from DIR/results.ndjson\n"
    "  (default DIR: ./cohort-output), or from run N (default: the last) recorded in a state folder.\n";

const char* kMergeHelp =
    "cohort-finder merge --out DIR SHARD_DIR...\n"
    "  Combines the output folders of `run --shard K/N` (K = 1..N) into candidates.csv, results.ndjson,\n"
    "  attrition.csv, data_issues.ndjson, report.html, group.json and manifest.json equal to one unsharded\n"
    "  run. Refuses shards made with another trial definition, mappings, as-of date or export mode.\n";

const char* kHistoryHelp =
    "cohort-finder history --state DIR\n"
    "  Lists the runs recorded in the state folder with their counts.\n";

const char* kAuditHelp =
    "cohort-finder audit --state DIR [ANCHOR...]\n"
    "  Prints the audit log (runs, the searches each sent to the server, one disclosure entry per\n"
    "  candidate a run's outputs name, pruning, feedback) and checks its hash chain: exit 0 when every\n"
    "  entry verifies, 7 at the first that does not.\n"
    "  Each ANCHOR names the log's newest entry when a run ended: the run's manifest.json (kept with its\n"
    "  outputs), or N:SHA256 from the run's log line \"log head: entry N, sha256 SHA256\". Exit 7 too if\n"
    "  the log no longer has that entry with that hash, which is how the newest entries removed shows.\n";

const char* kFeedbackHelp =
    "cohort-finder feedback PATIENT_ID --status screened|enrolled|declined|not-eligible [--note TEXT] "
    "--state DIR\n"
    "  Records a coordinator's screening outcome; later runs show it in candidates.csv, report.html and on\n"
    "  the rows of changes.csv. The note stays in the state database (with who recorded it, and when).\n";

fs::path data_dir() {
  if (const char* d = std::getenv("COHORT_DATA_DIR"); d && *d) return d;
  return COHORT_DATA_DIR;
}

Days today_utc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  return days_from_civil(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1),
                         static_cast<unsigned>(tm.tm_mday));
}

// --name value pairs; positional arguments are collected separately.
bool parse_flags(const std::vector<std::string>& args, std::size_t from,
                 const std::vector<std::string>& known, std::map<std::string, std::string>& flags,
                 std::vector<std::string>& positional) {
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      } else if (name != "help") {
        if (i + 1 >= args.size()) {
          std::cerr << "cohort-finder: --" << name << " needs a value\n";
          return false;
        }
        value = args[++i];
      }
      bool ok = name == "help";
      for (const auto& k : known) ok = ok || k == name;
      if (!ok) {
        std::cerr << "cohort-finder: unknown option --" << name << "\n";
        return false;
      }
      if (name == "source" && flags.count(name)) value = flags[name] + "\n" + value;  // repeatable
      flags[name] = value;
    } else {
      positional.push_back(a);
    }
  }
  return true;
}

// One line per event on stderr: readable text on a terminal, JSON lines for cron (--log-format json).
class Logger {
 public:
  Logger(bool quiet, bool json_lines) : quiet_(quiet), json_(json_lines) {}
  void operator()(const std::string& event, const std::string& message) const {
    if (quiet_) return;
    std::lock_guard lock(mu_);
    if (json_) {
      json::Writer w;
      w.begin_object().key("event").str(event).key("message").str(message).end_object();
      std::cerr << w.view() << "\n";
    } else {
      std::cerr << "cohort-finder: " << message << "\n";
    }
  }

 private:
  bool quiet_, json_;
  mutable std::mutex mu_;
};

int run_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!parse_flags(args, 1,
                   {"source",
                    "trial",
                    "mappings",
                    "as-of",
                    "out",
                    "prefilter",
                    "config",
                    "mode",
                    "concurrency",
                    "page-size",
                    "ca-file",
                    "auth",
                    "token-file",
                    "password-file",
                    "basic-user",
                    "strict-metadata",
                    "search-by-get",
                    "log-format",
                    "quiet",
                    "state",
                    "check",
                    "full",
                    "smart-client-id",
                    "smart-key",
                    "smart-kid",
                    "smart-alg",
                    "smart-scopes",
                    "smart-token-endpoint",
                    "smart-token-origins",
                    "threads",
                    "memory-budget",
                    "bulk",
                    "bulk-level",
                    "export-mode",
                    "min-cell-count",
                    "round-counts-to",
                    "pseudonym-key",
                    "shard",
                    "ineligible-detail",
                    "keep-lines",
                    "full-every-days"},
                   f, pos))
    return kUsage;
  if (f.count("help")) {
    std::cout << kRunHelp;
    return kOk;
  }
  if (!pos.empty()) {
    std::cerr << "cohort-finder run: unexpected argument '" << pos.front() << "'\n" << kRunHelp;
    return kUsage;
  }
  // Yes/no options take true or false: "--full no" read as anything but "false" would mean yes.
  for (const char* yes_no : {"strict-metadata", "search-by-get", "quiet", "bulk", "check", "full"})
    if (f.count(yes_no) && f[yes_no] != "true" && f[yes_no] != "false") {
      std::cerr << "cohort-finder run: --" << yes_no << " takes true or false, not '" << f[yes_no] << "'\n";
      return kUsage;
    }
  Settings s;
  if (f.count("config"))
    if (auto st = apply_config_file(f["config"], s); !st) {
      std::cerr << "cohort-finder: " << st.error().what() << "\n";
      return kUsage;
    }
  if (auto st = apply_environment(s); !st) {
    std::cerr << "cohort-finder: " << st.error().what() << "\n";
    return kUsage;
  }
  auto set_int = [&](const char* flag, int& dst) {
    if (!f.count(flag)) return true;
    try {
      dst = std::stoi(f[flag]);
    } catch (...) {
      dst = 0;
    }
    if (dst > 0) return true;
    std::cerr << "cohort-finder run: --" << flag << " must be a positive number\n";
    return false;
  };
  if (f.count("source")) {
    s.sources.clear();
    std::string all = f["source"];
    for (std::size_t start = 0;;) {
      auto nl = all.find('\n', start);
      s.sources.push_back(all.substr(start, nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }
  if (f.count("state")) s.state = f["state"];
  if (f.count("smart-client-id")) s.smart_client_id = f["smart-client-id"];
  if (f.count("password-file")) s.password_file = f["password-file"];
  if (f.count("basic-user")) s.basic_user = f["basic-user"];
  if (f.count("smart-key")) s.smart_key_file = f["smart-key"];
  if (f.count("smart-kid")) s.smart_kid = f["smart-kid"];
  if (f.count("smart-alg")) s.smart_alg = f["smart-alg"];
  if (f.count("smart-scopes")) s.smart_scopes = f["smart-scopes"];
  if (f.count("smart-token-endpoint")) s.smart_token_endpoint = f["smart-token-endpoint"];
  if (f.count("smart-token-origins")) s.smart_token_origins = f["smart-token-origins"];
  for (const char* k :
       {"trial", "mappings", "out", "prefilter", "mode", "ca-file", "auth", "token-file", "log-format"})
    if (f.count(k)) {
      std::string& dst = std::string(k) == "trial"        ? s.trial
                         : std::string(k) == "mappings"   ? s.mappings
                         : std::string(k) == "out"        ? s.out
                         : std::string(k) == "prefilter"  ? s.prefilter
                         : std::string(k) == "mode"       ? s.mode
                         : std::string(k) == "ca-file"    ? s.ca_file
                         : std::string(k) == "auth"       ? s.auth
                         : std::string(k) == "token-file" ? s.token_file
                                                          : s.log_format;
      dst = f[k];
    }
  if (f.count("as-of")) s.as_of = f["as-of"];
  if (f.count("strict-metadata")) s.strict_metadata = f["strict-metadata"] != "false";
  if (f.count("search-by-get")) s.search_by_get = f["search-by-get"] != "false";
  if (f.count("quiet")) s.quiet = f["quiet"] != "false";
  if (f.count("bulk")) s.bulk = f["bulk"] != "false";
  if (f.count("bulk-level")) s.bulk_level = f["bulk-level"];
  if (s.bulk && !source::parse_bulk_level(s.bulk_level)) {
    std::cerr << "cohort-finder run: --bulk-level is system, patient or group:ID (ID a FHIR id)\n";
    return kUsage;
  }
  if (!set_int("concurrency", s.concurrency) || !set_int("page-size", s.page_size) ||
      !set_int("threads", s.threads) || !set_int("memory-budget", s.memory_budget_mb) ||
      !set_int("keep-lines", s.keep_lines) || !set_int("full-every-days", s.full_every_days))
    return kUsage;
  if (s.prefilter != "on" && s.prefilter != "off") {
    std::cerr << "cohort-finder run: --prefilter is on or off\n";
    return kUsage;
  }
  if (s.mode != "seed" && s.mode != "population") {
    std::cerr << "cohort-finder run: --mode is seed or population\n";
    return kUsage;
  }
  if (f.count("ineligible-detail")) s.ineligible_detail = f["ineligible-detail"];
  const auto detail = report::parse_ineligible_detail(s.ineligible_detail);
  if (!detail) {
    std::cerr << "cohort-finder run: --ineligible-detail is deciding or full\n";
    return kUsage;
  }
  if (s.log_format != "text" && s.log_format != "json") {
    std::cerr << "cohort-finder run: --log-format is text or json\n";
    return kUsage;
  }
  const Logger log(s.quiet, s.log_format == "json");
  const Logger always(false, s.log_format == "json");  // warnings and the audit head: --quiet keeps them

  app::RunOptions o;
  const fs::path data = data_dir();
  o.mappings = !s.mappings.empty() ? fs::path(s.mappings) : data / "mappings";
  o.trial = !s.trial.empty() ? fs::path(s.trial) : o.mappings / "trials" / "nct07177911.json";
  o.out = s.out;
  o.tool_version = app::version();
  o.threads = static_cast<std::size_t>(s.threads);
  o.memory_budget_bytes = static_cast<std::size_t>(s.memory_budget_mb) << 20;
  o.ineligible_detail = *detail;
  o.keep_lines = s.keep_lines;
  o.full_every_days = s.full_every_days;
  {
    const std::string em = f.count("export-mode") ? f["export-mode"] : "identified";
    const auto mode = report::parse_export_mode(em);
    if (!mode) {
      std::cerr
          << "cohort-finder run: --export-mode is identified, limited, deidentified, safe-harbor or counts, "
             "got '"
          << em << "'\n";
      return kUsage;
    }
    o.export_mode = *mode;
    if (f.count("pseudonym-key")) o.pseudonym_key = f["pseudonym-key"];
    if (report::pseudonymised(*mode)) {
      if (o.pseudonym_key.empty()) {
        std::cerr << "cohort-finder run: --export-mode " << em << " needs --pseudonym-key FILE\n";
        return kUsage;
      }
      if (auto k = report::read_privacy_key(o.pseudonym_key); !k) {
        std::cerr << "cohort-finder: " << k.error().what() << "\n";
        return kUsage;
      }
    } else if (!o.pseudonym_key.empty()) {
      std::cerr << "cohort-finder run: --pseudonym-key needs --export-mode deidentified or safe-harbor\n";
      return kUsage;
    }
    // The small-cell rule (report/counts.hpp): the privacy office's numbers, defaults 11 and 5.
    for (const auto& [flag, value] :
         {std::pair<const char*, std::size_t*>{"min-cell-count", &o.cells.min_count},
          {"round-counts-to", &o.cells.round_to}}) {
      if (!f.count(flag)) continue;
      if (*mode != report::ExportMode::counts) {
        std::cerr << "cohort-finder run: --" << flag << " needs --export-mode counts\n";
        return kUsage;
      }
      const std::string& t = f[flag];
      std::size_t n = 0;
      const auto r = std::from_chars(t.data(), t.data() + t.size(), n);
      if (r.ec != std::errc() || r.ptr != t.data() + t.size() || n < 1 || n > 1000) {
        std::cerr << "cohort-finder run: --" << flag << " is a whole number from 1 to 1000, got '" << t
                  << "'\n";
        return kUsage;
      }
      *value = n;
    }
  }
  if (f.count("shard")) {
    auto sh = Shard::parse(f["shard"]);
    if (!sh) {
      std::cerr << "cohort-finder run: --shard is K/N with 1 <= K <= N, got '" << f["shard"] << "'\n";
      return kUsage;
    }
    o.shard = *sh;
    // A state folder compares each night with the last one it recorded: a shard after a whole run (or another
    // shard) would list every patient outside it as dropped, and changes.csv would be false.
    if (!o.shard.whole() && !s.state.empty()) {
      std::cerr
          << "cohort-finder run: --shard cannot be used with --state (what changed since the last night is "
             "kept for the whole cohort); run the shards without --state and merge them\n";
      return kUsage;
    }
  }
  if (!s.as_of.empty()) {
    auto d = parse_iso_day(s.as_of);
    if (!d) {
      std::cerr << "cohort-finder run: --as-of must be a date YYYY-MM-DD, got '" << s.as_of << "'\n";
      return kUsage;
    }
    o.as_of = *d;
  } else {
    o.as_of = today_utc();
  }
  if (s.sources.empty())
    s.sources = {(data / "fhir-samples" / "ndjson").string(), (data / "fhir-samples" / "bundles").string()};
  auto prepared = app::prepare(o);
  if (!prepared) {
    std::cerr << "cohort-finder: " << prepared.error().what() << "\n";
    return kConfig;
  }
  // Settings a server run would refuse only once it starts: refused here, as settings (exit 2), by --check
  // too.
  if (s.is_server()) {
    auto url = transport::Url::parse(s.sources[0]);
    if (!url) {
      std::cerr << "cohort-finder: --source: " << url.error().what() << "\n";
      return kUsage;
    }
    if (url->scheme == "http" && !url->is_loopback()) {
      std::cerr << "cohort-finder: --source " << url->redacted()
                << ": plain http only to this machine (a local proxy); use https\n";
      return kUsage;
    }
    if (!s.ca_file.empty() && !std::ifstream(s.ca_file)) {
      std::cerr << "cohort-finder: --ca-file " << s.ca_file << ": cannot be read\n";
      return kUsage;
    }
  }
  if (f.count("check") && f["check"] == "true") {
    // Validates settings, trial definition and mappings without reading any data (for deployment checks).
    std::cout << "settings ok: source " << (s.is_server() ? s.sources[0] + " (" + s.mode + " mode)" : "files")
              << ", trial " << o.trial.string() << ", as of " << format_day(o.as_of)
              << (s.state.empty() ? "" : ", state " + s.state) << ", out " << o.out.string() << "\n";
    // Codes written from memory still match (their evidence says so): the study team checks them before
    // production use, and this is where it learns which.
    const auto& unverified = app::unverified_codes(**prepared);
    if (!unverified.empty()) {
      std::cout
          << "mappings: " << unverified.size()
          << " codes are marked \"verified\": false (written from memory; check them against loinc.org, "
             "VSAC or Athena, then set \"verified\": true):\n";
      for (const auto& rule : unverified) std::cout << "  " << rule << "\n";
    }
    if (s.is_server()) {
      auto auth = authorization(s);
      if (!auth) {
        std::cerr << "cohort-finder: " << auth.error().what() << "\n";
        return kUsage;
      }
    }
    return kOk;
  }
  std::unique_ptr<store::RunLock> lock;
  if (!s.state.empty()) {
    auto l = store::RunLock::acquire(s.state);
    if (!l) {
      std::cerr << "cohort-finder: " << l.error().what() << "; this run stops\n";
      // Exit 6 means "a previous run still holds the folder" to monitoring: a bad folder is not that.
      return l.error().message == store::RunLock::kHeld ? kLocked : kSource;
    }
    lock = std::move(*l);
    o.state = s.state;
    o.full = f.count("full") && f["full"] != "false";
  }

  std::unique_ptr<source::Source> src;
  std::shared_ptr<transport::HttpClient> client;
  if (s.is_server()) {
    auto auth = authorization(s);
    if (!auth) {
      std::cerr << "cohort-finder: " << auth.error().what() << "\n";
      return kUsage;
    }
    transport::ClientOptions co;
    if (s.concurrency == 0) s.concurrency = s.bulk ? 2 : 4;
    co.max_connections = static_cast<std::size_t>(s.concurrency);
    co.connect_timeout = std::chrono::seconds(s.connect_timeout_s);
    co.handshake_timeout = std::chrono::seconds(s.connect_timeout_s);
    co.read_timeout = std::chrono::seconds(s.read_timeout_s);
    co.total_timeout = std::chrono::seconds(s.total_timeout_s);
    co.ca_file = s.ca_file;
    // A search page of 1000 resources is a few MB: 256 MiB decoded bounds a gzip bomb without refusing real
    // pages.
    co.max_decoded_bytes = std::size_t{256} << 20;
    co.user_agent = "cohort-finder/" + app::version();
    co.log = [&log](const std::string& line) { log("retry", line); };
    auto c = transport::HttpClient::create(co);
    if (!c) {
      std::cerr << "cohort-finder: " << c.error().what() << "\n";
      return kUsage;
    }
    client = std::move(*c);
    source::RestOptions ro;
    ro.base_url = s.sources[0];
    ro.page_size = s.page_size;
    ro.concurrency = s.concurrency;
    ro.strict_metadata = s.strict_metadata;
    ro.search_by_get = s.search_by_get;
    ro.authorization = *auth;
    ro.log = [&log](const std::string& line) { log("pull", line); };
    // A live progress line when a person watches (stderr is a terminal); cron gets the JSON-lines log
    // instead.
    if (!s.quiet && s.log_format == "text" && ::isatty(2)) {
      auto t0 = std::chrono::steady_clock::now();
      auto last = std::make_shared<std::chrono::steady_clock::time_point>(t0);
      auto mu = std::make_shared<std::mutex>();
      ro.progress = [t0, last, mu](const source::RestProgress& p) {
        std::lock_guard guard(*mu);
        const auto now = std::chrono::steady_clock::now();
        if (now - *last < std::chrono::milliseconds(250)) return;
        *last = now;
        const double secs = std::chrono::duration<double>(now - t0).count();
        const double rate = secs > 0 ? static_cast<double>(p.resources) / secs : 0;
        std::string eta;
        if (p.expected > p.resources && rate > 0)
          eta = ", ETA " +
                std::to_string(static_cast<long>(static_cast<double>(p.expected - p.resources) / rate)) +
                " s";
        std::fprintf(stderr, "\rpulling: %zu/%zu queries started, %zu pages, %zu resources (%.0f/s)%s   ",
                     p.queries_done, p.queries_planned, p.pages, p.resources, rate, eta.c_str());
      };
    }
    if (s.auth == "smart") {
      transport::ClientOptions ao = co;  // same CA file and timeouts; small bodies only (T9)
      ao.max_connections = 1;
      ao.max_body_bytes = ao.max_decoded_bytes = transport::SmartAuth::max_discovery_bytes;
      auto ac = transport::HttpClient::create(ao);
      if (!ac) {
        std::cerr << "cohort-finder: " << ac.error().what() << "\n";
        return kUsage;
      }
      transport::SmartOptions so;
      so.fhir_base_url = s.sources[0];
      so.client_id = s.smart_client_id;
      so.private_key_pem_file = s.smart_key_file;
      so.key_id = s.smart_kid;
      so.algorithm = s.smart_alg;
      if (!s.smart_scopes.empty()) so.scopes = s.smart_scopes;
      so.token_endpoint = s.smart_token_endpoint;
      for (auto origin : cf::split(s.smart_token_origins, ' '))
        if (!origin.empty()) so.token_origins.emplace_back(origin);
      so.log = [&log](const std::string& line) { log("auth", line); };
      auto sa =
          transport::SmartAuth::create(std::move(so), std::shared_ptr<transport::HttpClient>(std::move(*ac)));
      if (!sa) {
        std::cerr << "cohort-finder: " << sa.error().what() << "\n";
        return kUsage;
      }
      ro.smart = *sa;
    }
    if (s.bulk) {
      // Bulk Data $export (RELIABILITY B): the kick-off creates a job, so it is repeated at most once (B2).
      // Files are streamed into the pipeline as they arrive (memory does not grow with them), so a hospital's
      // multi-gigabyte Observation file is allowed its size and hours; a stalled one still fails after the
      // read timeout of silence.
      transport::ClientOptions ko = co;
      ko.retry.max_attempts = 2;
      transport::ClientOptions fo = co;
      fo.total_timeout = std::max(co.total_timeout, std::chrono::milliseconds(std::chrono::hours(12)));
      fo.max_body_bytes = std::size_t{256} << 30;
      fo.max_decoded_bytes = std::size_t{256} << 30;
      auto kc = transport::HttpClient::create(ko);
      auto fc = transport::HttpClient::create(fo);
      if (!kc || !fc) {
        std::cerr << "cohort-finder: " << (!kc ? kc.error() : fc.error()).what() << "\n";
        return kUsage;
      }
      auto level = source::parse_bulk_level(s.bulk_level);  // checked above
      source::BulkOptions bo;
      bo.base_url = s.sources[0];
      bo.level = level->first;
      bo.group_id = level->second;
      const auto plan = app::rest_plan_for(**prepared, true);
      bo.observation_codes = plan.observation_codes;  // _typeFilter (asked again without it on HTTP 400)
      bo.observation_texts = plan.observation_texts;
      bo.concurrency = s.concurrency;
      bo.authorization = ro.authorization;
      bo.smart = ro.smart;
      if (s.prefilter == "on") bo.line_filter = app::line_filter_for(**prepared);
      bo.kickoff_client = std::shared_ptr<transport::HttpClient>(std::move(*kc));
      bo.file_client = std::shared_ptr<transport::HttpClient>(std::move(*fc));
      bo.log = [&log](const std::string& line) { log("bulk", line); };
      src = std::make_unique<source::BulkSource>(std::move(bo), client);
    } else {
      auto plan = app::rest_plan_for(**prepared, s.mode == "population");
      plan.observation_since = s.observation_since;
      if (!o.shard.whole())
        plan.keep_patient = [sh = o.shard](const std::string& id) { return sh.contains(id); };
      src = std::make_unique<source::RestSource>(std::move(ro), std::move(plan), client);
    }
  } else {
    std::vector<fs::path> roots(s.sources.begin(), s.sources.end());
    auto fsrc = std::make_unique<source::FileSource>(roots);
    fsrc->set_threads(static_cast<std::size_t>(s.threads));
    if (s.prefilter == "on") fsrc->set_line_filter(app::line_filter_for(**prepared));
    src = std::move(fsrc);
  }
  auto started = std::chrono::steady_clock::now();
  auto sum = app::run(o, **prepared, *src);
  if (!sum) {
    std::cerr << "cohort-finder: " << sum.error().what() << "\n";
    return kSource;
  }
  if (auto* bulk = dynamic_cast<source::BulkSource*>(src.get())) {
    const auto c = bulk->counters();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log("pull-summary", std::string(c.resumed ? "resumed export, " : "") + std::to_string(c.kickoffs) +
                            " kick-offs, " + std::to_string(c.polls) + " polls (" +
                            std::to_string(c.waited.count() / 1000) + " s waiting), " +
                            std::to_string(c.files) + " files, " + std::to_string(c.lines) + " lines, " +
                            std::to_string(c.failed_files) + " failed files, " + std::to_string(c.deleted) +
                            " deleted in " + std::to_string(secs) + " s");
  }
  if (auto* rest = dynamic_cast<source::RestSource*>(src.get())) {
    if (!s.quiet && s.log_format == "text" && ::isatty(2)) std::fputs("\n", stderr);
    auto c = rest->counters();
    auto hc = client->counters();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log("pull-summary", std::to_string(c.queries) + " queries, " + std::to_string(c.pages) + " pages, " +
                            std::to_string(c.resources) + " resources, " + std::to_string(hc.retries) +
                            " retries, " + std::to_string(c.failed_queries) + " failed queries in " +
                            std::to_string(secs) + " s");
  }
  if (sum->partitions > 1)
    log("evaluate", "memory budget reached: " + std::to_string(sum->spilled_bytes >> 20) +
                        " MB of kept resources went to scratch files; patients were evaluated in " +
                        std::to_string(sum->partitions) + " partitions");
  {
    char t[160];
    std::snprintf(t, sizeof t, "read %.1f s, evaluated %.1f s, wrote outputs %.1f s", sum->read_seconds,
                  sum->evaluate_seconds, sum->output_seconds);
    log("run", t);
  }
  std::cout << "as of " << format_day(o.as_of) << ": " << sum->patients
            << (sum->patients == 1 ? " patient" : " patients") << " evaluated: " << sum->eligible
            << " eligible, " << sum->possible << " possible, " << sum->ineligible << " ineligible; "
            << sum->data_issues << (sum->data_issues == 1 ? " data issue\n" : " data issues\n");
  if (o.export_mode == report::ExportMode::counts)
    std::cout << "counts only (no patient-level output): "
              << fs::absolute(o.out / "attrition.csv").lexically_normal().string() << "\n";
  else
    std::cout << "ranked candidates: " << fs::absolute(sum->candidates_csv).lexically_normal().string()
              << "\n";
  if (!sum->changes.empty())
    std::cout << "changes " << sum->changes
              << (o.export_mode == report::ExportMode::counts ? "\n" : " (changes.csv)\n");
  if (sum->lines_kept_from > 0)
    log("prune", "results lines kept for runs " + std::to_string(sum->lines_kept_from) +
                     " and later (--keep-lines " + std::to_string(s.keep_lines) +
                     "); older runs keep their decisions");
  if (!sum->full_because.empty()) log("pull", "pulled everything again: " + sum->full_because);
  if (sum->out_made_private)
    always("warning",
           "warning: the output folder " + o.out.string() +
               " was readable by others and is now private (0700): patient data stay with this user");
  if (!sum->prefilter_warning.empty())  // a warning: shown with --quiet too
    always("warning", "warning: " + sum->prefilter_warning);
  if (sum->not_stored > 0)
    log("pull",
        std::to_string(sum->not_stored) +
            " resource(s) of patients read for the first time on this incomplete night were not stored: "
            "they are read in full again next night");
  // The audit log's head goes to the journal even with --quiet: deploy/README.md has sites keep it there, out
  // of the state folder's reach, as an anchor for `audit`.
  if (sum->audit_entry > 0)
    always("audit", "log head: entry " + std::to_string(sum->audit_entry) + ", sha256 " + sum->audit_hash +
                        " (also in manifest.json)");
  if (!sum->anchor_error.empty())
    std::cerr << "cohort-finder: WARNING: manifest.json could not be given the audit log's head (the run is "
                 "recorded): "
              << sum->anchor_error << "\n";
  if (!sum->prune_error.empty())
    std::cerr
        << "cohort-finder: WARNING: the results lines of old runs could not be pruned (the run's results "
           "are saved): "
        << sum->prune_error << "\n";
  if (!sum->complete) {
    std::cout << "WARNING: some input could not be read; decisions that depend on it are 'unknown' "
                 "(see manifest.json and data_issues.ndjson)\n";
    return kIncomplete;
  }
  return kOk;
}

// --state, else COHORT_STATE_DIR, else "".
std::string state_dir(std::map<std::string, std::string>& f) {
  std::string dir = f.count("state") ? f["state"] : "";
  if (dir.empty())
    if (const char* v = std::getenv("COHORT_STATE_DIR")) dir = v;
  return dir;
}

Result<std::unique_ptr<store::StateStore>> open_state(std::map<std::string, std::string>& f) {
  const std::string dir = state_dir(f);
  if (dir.empty()) return make_error("needs --state DIR (or COHORT_STATE_DIR)", "state");
  if (!fs::exists(fs::path(dir) / "state.db"))
    return make_error("no state database here: run `cohort-finder run --state` first", dir);
  return store::StateStore::open(dir);
}

// Without a state folder named it is a usage error (2); a named one that cannot be used, a source failure
// (4).
int state_failure_code(std::map<std::string, std::string>& f) {
  return state_dir(f).empty() ? kUsage : kSource;
}

int explain_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!parse_flags(args, 1, {"out", "state", "run"}, f, pos)) return kUsage;
  if (f.count("help")) {
    std::cout << kExplainHelp;
    return kOk;
  }
  if (pos.size() != 1) {
    std::cerr << kExplainHelp;
    return kUsage;
  }
  if (f.count("state")) {
    auto st = open_state(f);
    if (!st) {
      std::cerr << "cohort-finder explain: " << st.error().what() << "\n";
      return state_failure_code(f);
    }
    std::int64_t run = 0;
    if (f.count("run")) {
      const std::string& r = f["run"];
      if (r.empty() || r.size() > 18 || r.find_first_not_of("0123456789") != std::string::npos) {
        std::cerr << "cohort-finder explain: --run takes a run number (see `cohort-finder history`)\n";
        return kUsage;
      }
      run = std::atoll(r.c_str());
    } else {
      auto last = (*st)->last_finished_run();
      if (!last || !*last) {
        std::cerr << "cohort-finder explain: no finished run in the state folder\n";
        return kUsage;
      }
      run = (*last)->id;
    }
    auto r = (*st)->result(run, pos[0]);
    if (!r || !*r) {
      std::cerr << "cohort-finder explain: patient '" << pos[0] << "' is not in run " << run << "\n";
      return kSource;
    }
    if ((*r)->line.empty()) {  // pruned (run --keep-lines): the decisions are all that is left
      std::cout << "(run " << run
                << ": its reasons and evidence were pruned by --keep-lines; decisions only)\n"
                << "Patient " << pos[0] << ": " << (*r)->tier
                << ((*r)->rank > 0 ? ", rank " + std::to_string((*r)->rank) : std::string()) << "\n";
      for (const auto& [criterion, outcome] : (*r)->outcomes)
        std::cout << "[" << outcome << "] " << criterion << "\n";
      return kOk;
    }
    auto text = report::explain_line((*r)->line, pos[0]);
    if (!text) {
      std::cerr << "cohort-finder explain: " << text.error().what() << "\n";
      return kSource;
    }
    std::cout << "(run " << run << ")\n" << *text;
    return kOk;
  }
  fs::path out = f.count("out") ? fs::path(f["out"]) : fs::path("cohort-output");
  auto text = report::explain(out / "results.ndjson", pos.front());
  if (!text) {
    std::cerr << "cohort-finder explain: " << text.error().what() << "\n";
    return kSource;
  }
  std::cout << *text;
  return kOk;
}

int merge_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!parse_flags(args, 1, {"out"}, f, pos)) return kUsage;
  if (f.count("help") || pos.empty() || !f.count("out")) {
    std::cout << kMergeHelp;
    return f.count("help") ? kOk : kUsage;
  }
  auto sum = app::merge(std::vector<fs::path>(pos.begin(), pos.end()), f["out"]);
  if (!sum) {
    std::cerr << "cohort-finder merge: " << sum.error().what() << "\n";
    return kSource;
  }
  std::cout << "merged " << sum->shards << " shards: " << sum->patients << " patients, " << sum->eligible
            << " eligible, " << sum->possible << " possible, " << sum->ineligible << " ineligible\n";
  std::cout << "ranked candidates: "
            << fs::absolute(fs::path(f["out"]) / "candidates.csv").lexically_normal().string() << "\n";
  return kOk;
}

// The commands that take only --state (and, with `files_ok`, file names): usage and help, then `body` on the
// opened store.
int with_state(const std::vector<std::string>& args, const char* name, const char* help,
               const std::function<int(store::StateStore&, const std::vector<std::string>&)>& body,
               bool files_ok = false) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!parse_flags(args, 1, {"state"}, f, pos) || (!pos.empty() && !files_ok)) {
    std::cerr << help;
    return kUsage;
  }
  if (f.count("help")) {
    std::cout << help;
    return kOk;
  }
  auto st = open_state(f);
  if (!st) {
    std::cerr << "cohort-finder " << name << ": " << st.error().what() << "\n";
    return state_failure_code(f);
  }
  return body(**st, pos);
}

int audit_command(const std::vector<std::string>& args) {
  auto body = [](store::StateStore& st, const std::vector<std::string>& anchors) -> int {
    auto log = st.audit_log();
    auto check = st.verify_audit();
    if (!log || !check) {
      std::cerr << "cohort-finder audit: " << (!log ? log.error() : check.error()).what() << "\n";
      return kSource;
    }
    for (const auto& e : *log) std::cout << e[0] << "  " << e[1] << "  " << e[2] << "  " << e[3] << "\n";
    const auto& c = *check;
    if (c.broken_at) {
      std::cerr << "cohort-finder audit: the hash chain breaks at entry " << c.broken_at << ": " << c.why
                << "\n";
      return kTampered;
    }
    std::cout << c.entries << " entries; hash chain verified"
              << (c.unchained ? " from entry " + std::to_string(c.unchained + 1) + " (the " +
                                    std::to_string(c.unchained) + " before it predate the chain)"
                              : std::string())
              << "\n";
    int rc = kOk;
    for (const auto& m : anchors) {
      auto a = app::check_audit_anchor(st, m);
      if (!a) {
        std::cerr << "cohort-finder audit: " << a.error().what() << "\n";
        if (rc == kOk) rc = kUsage;
      } else if (!a->holds) {
        std::cerr << "cohort-finder audit: " << m << ": " << a->why << "\n";
        rc = kTampered;
      } else {
        std::cout << m << ": entry " << a->entry << " verified\n";
      }
    }
    return rc;
  };
  return with_state(args, "audit", kAuditHelp, body, true);
}

int history_command(const std::vector<std::string>& args) {
  return with_state(
      args, "history", kHistoryHelp, [](store::StateStore& st, const std::vector<std::string>&) {
        auto h = st.history();
        if (!h) {
          std::cerr << "cohort-finder history: " << h.error().what() << "\n";
          return kSource;
        }
        std::cout
            << "run  status      as-of       started               patients  eligible  possible  ineligible  "
               "issues  trial\n";
        for (const auto& r : *h) {
          char line[512];
          std::snprintf(
              line, sizeof line, "%-4lld %-11s %-11s %-21s %8lld  %8lld  %8lld  %10lld  %6lld  %s %s\n",
              static_cast<long long>(r.id), r.failure.empty() ? r.status.c_str() : "failed", r.as_of.c_str(),
              r.started.c_str(), static_cast<long long>(r.patients), static_cast<long long>(r.eligible),
              static_cast<long long>(r.possible), static_cast<long long>(r.ineligible),
              static_cast<long long>(r.data_issues), r.trial_id.c_str(), r.trial_version.c_str());
          std::cout << line;
          if (!r.failure.empty()) std::cout << "     " << r.failure << "\n";
        }
        return kOk;
      });
}

int feedback_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!parse_flags(args, 1, {"state", "status", "note"}, f, pos)) return kUsage;
  if (f.count("help")) {
    std::cout << kFeedbackHelp;
    return kOk;
  }
  static const std::set<std::string> kStatuses = {"screened", "enrolled", "declined", "not-eligible"};
  if (pos.size() != 1 || !kStatuses.count(f["status"])) {
    if (pos.size() == 1)
      std::cerr << "cohort-finder feedback: --status is screened, enrolled, declined or not-eligible"
                << (f.count("status") ? ", not '" + sanitize_for_log(f["status"], 40) + "'" : "") << "\n";
    std::cerr << kFeedbackHelp;
    return kUsage;
  }
  auto st = open_state(f);
  if (!st) {
    std::cerr << "cohort-finder feedback: " << st.error().what() << "\n";
    return state_failure_code(f);
  }
  // A mistyped id would be recorded for no one: said, though recorded (the patient may come in later).
  if (auto last = (*st)->last_finished_run(); last && *last) {
    auto known = (*st)->result((*last)->id, pos[0]);
    if (known && !*known)
      std::cerr << "cohort-finder feedback: warning: patient '" << sanitize_for_log(pos[0], 64)
                << "' is not in the last run (" << (*last)->id << "): check the id\n";
  }
  store::Feedback fb{pos[0], f["status"], f["note"], store::now_utc(), store::current_user()};
  if (auto a = (*st)->add_feedback(fb); !a) {
    std::cerr << "cohort-finder feedback: " << a.error().what() << "\n";
    return kSource;
  }
  std::cout << "recorded: " << fb.patient << " " << fb.status << "\n";
  return kOk;
}

}  // namespace

int main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    if (args.size() > 1 && args[1] == "run")
      std::cout << kRunHelp;
    else if (args.size() > 1 && args[1] == "explain")
      std::cout << kExplainHelp;
    else if (args.size() > 1 && args[1] == "history")
      std::cout << kHistoryHelp;
    else if (args.size() > 1 && args[1] == "audit")
      std::cout << kAuditHelp;
    else if (args.size() > 1 && args[1] == "merge")
      std::cout << kMergeHelp;
    else if (args.size() > 1 && args[1] == "feedback")
      std::cout << kFeedbackHelp;
    else
      std::cout << kUsageText;
    return args.empty() ? kUsage : kOk;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "cohort-finder " << app::version() << "\n";
    return kOk;
  }
  if (args[0] == "run") return run_command(args);
  if (args[0] == "explain") return explain_command(args);
  if (args[0] == "history") return history_command(args);
  if (args[0] == "audit") return audit_command(args);
  if (args[0] == "merge") return merge_command(args);
  if (args[0] == "feedback") return feedback_command(args);
  std::cerr << "cohort-finder: unknown command '" << args[0] << "'\n\n" << kUsageText;
  return kUsage;
}

}  // namespace cf::cli
