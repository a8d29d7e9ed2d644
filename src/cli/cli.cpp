#include "cli/cli.hpp"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>

#include "app/run.hpp"
#include "report/outputs.hpp"
#include "source/file_source.hpp"

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
    "  cohort-finder run [--source DIR|FILE] [--trial FILE] [--mappings DIR] [--as-of YYYY-MM-DD] [--out DIR]\n"
    "  cohort-finder explain PATIENT_ID [--out DIR]\n"
    "  cohort-finder version\n"
    "  cohort-finder help [COMMAND]\n"
    "\n"
    "Exit codes: 0 complete, 2 usage, 3 invalid trial definition or mappings, 4 source or output failure,\n"
    "            5 outputs written but some input could not be read (affected decisions are 'unknown'), 1 bug.\n";

const char* kRunHelp =
    "cohort-finder run: one search\n"
    "  --source PATH   a folder of *.ndjson (one resource per line) and/or *.json Bundles, or one file;\n"
    "                  repeatable (default: the bundled demo data, fhir-samples/ndjson and fhir-samples/bundles)\n"
    "  --trial FILE    trial definition (default: mappings/trials/nct07177911.json)\n"
    "  --mappings DIR  code, unit and drug maps (default: mappings/)\n"
    "  --as-of DATE    the index date every window and age is counted from (default: today, UTC)\n"
    "  --out DIR       output folder (default: ./cohort-output)\n"
    "  --prefilter on|off  skip NDJSON lines that no criterion can use before parsing them (default on)\n"
    "Writes candidates.csv, results.ndjson, attrition.csv, data_issues.ndjson and manifest.json.\n"
    "Environment: COHORT_DATA_DIR overrides where mappings/ and fhir-samples/ are found.\n";

const char* kExplainHelp =
    "cohort-finder explain PATIENT_ID [--out DIR]\n"
    "  Prints each criterion's decision for the patient and the data behind it, from DIR/results.ndjson\n"
    "  (default DIR: ./cohort-output).\n";

fs::path data_dir() {
  if (const char* d = std::getenv("COHORT_DATA_DIR"); d && *d) return d;
  return COHORT_DATA_DIR;
}

Days today_utc() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  return days_from_civil(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1), static_cast<unsigned>(tm.tm_mday));
}

// --name value pairs; positional arguments are collected separately.
bool parse_flags(const std::vector<std::string>& args, std::size_t from, const std::vector<std::string>& known,
                 std::map<std::string, std::string>& flags, std::vector<std::string>& positional) {
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

int run_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!parse_flags(args, 1, {"source", "trial", "mappings", "as-of", "out", "prefilter"}, f, pos)) return kUsage;
  if (f.count("help")) {
    std::cout << kRunHelp;
    return kOk;
  }
  if (!pos.empty()) {
    std::cerr << "cohort-finder run: unexpected argument '" << pos.front() << "'\n" << kRunHelp;
    return kUsage;
  }
  app::RunOptions o;
  const fs::path data = data_dir();
  o.mappings = f.count("mappings") ? fs::path(f["mappings"]) : data / "mappings";
  o.trial = f.count("trial") ? fs::path(f["trial"]) : o.mappings / "trials" / "nct07177911.json";
  o.out = f.count("out") ? fs::path(f["out"]) : fs::path("cohort-output");
  o.tool_version = app::version();
  if (f.count("as-of")) {
    auto d = parse_iso_day(f["as-of"]);
    if (!d) {
      std::cerr << "cohort-finder run: --as-of must be a date YYYY-MM-DD, got '" << f["as-of"] << "'\n";
      return kUsage;
    }
    o.as_of = *d;
  } else {
    o.as_of = today_utc();
  }
  std::vector<fs::path> sources;
  if (f.count("source")) {
    std::string all = f["source"];
    for (std::size_t start = 0;;) {
      auto nl = all.find('\n', start);
      sources.emplace_back(all.substr(start, nl - start));
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  } else {
    sources = {data / "fhir-samples" / "ndjson", data / "fhir-samples" / "bundles"};
  }
  auto prepared = app::prepare(o);
  if (!prepared) {
    std::cerr << "cohort-finder: " << prepared.error().what() << "\n";
    return kConfig;
  }
  source::FileSource src(sources);
  if (!f.count("prefilter") || f["prefilter"] == "on") {
    src.set_line_filter(app::line_filter_for(**prepared));
  } else if (f["prefilter"] != "off") {
    std::cerr << "cohort-finder run: --prefilter is on or off\n";
    return kUsage;
  }
  auto s = app::run(o, **prepared, src);
  if (!s) {
    std::cerr << "cohort-finder: " << s.error().what() << "\n";
    return kSource;
  }
  std::cout << "as of " << format_day(o.as_of) << ": " << s->patients << " patients evaluated: " << s->eligible
            << " eligible, " << s->possible << " possible, " << s->ineligible << " ineligible; " << s->data_issues
            << " data issues\n";
  std::cout << "ranked candidates: " << fs::absolute(s->candidates_csv).lexically_normal().string() << "\n";
  if (!s->complete) {
    std::cout << "WARNING: some input could not be read; decisions that depend on it are 'unknown' "
                 "(see manifest.json and data_issues.ndjson)\n";
    return kIncomplete;
  }
  return kOk;
}

int explain_command(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  std::vector<std::string> pos;
  if (!parse_flags(args, 1, {"out"}, f, pos)) return kUsage;
  if (f.count("help")) {
    std::cout << kExplainHelp;
    return kOk;
  }
  if (pos.size() != 1) {
    std::cerr << kExplainHelp;
    return kUsage;
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

}  // namespace

int main(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    if (args.size() > 1 && args[1] == "run") std::cout << kRunHelp;
    else if (args.size() > 1 && args[1] == "explain") std::cout << kExplainHelp;
    else std::cout << kUsageText;
    return args.empty() ? kUsage : kOk;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::cout << "cohort-finder " << app::version() << "\n";
    return kOk;
  }
  if (args[0] == "run") return run_command(args);
  if (args[0] == "explain") return explain_command(args);
  std::cerr << "cohort-finder: unknown command '" << args[0] << "'\n\n" << kUsageText;
  return kUsage;
}

}  // namespace cf::cli
