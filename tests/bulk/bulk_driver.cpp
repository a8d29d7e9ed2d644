// Test driver for source::BulkSource: one app::run (the same pipeline as `cohort-finder run`) over a Bulk
// Data export, or over the demo files (--files) for comparison, until the CLI has --bulk. Writes a JSON
// summary for the test script to check.
//
//   bulk_driver --repo DIR --out DIR --summary FILE (--files | --base URL) [--level system|patient|group:ID]
//               [--as-of YYYY-MM-DD] [--state DIR] [--since INSTANT] [--type-filter on|off] [--ca-file FILE]
//               [--trust ORIGIN] [--resume-url URL] [--status-url-file FILE: the status URL, as a state store
//               would keep it] [--crash-after-kickoff: exit 9 once the status URL is known]
//               [--attempts N] [--poll-ms N] [--min-poll-ms N] [--max-poll-ms N] [--max-error-wait-ms N]
//               [--max-export-wait-ms N] [--concurrency N] [--max-body-mb N: body size caps of the client,
//               compressed and decoded] [--total-timeout-s N] [--memory-budget-kb N: kept resources beyond
//               it are spilled]
// BULK_TOKEN in the environment: sent as "Authorization: Bearer <token>" (where BulkSource allows).
// Exit codes as the CLI's: 0 complete, 5 incomplete, 4 the source failed, 3 bad trial/mappings, 2 usage.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "app/run.hpp"
#include "core/date.hpp"
#include "core/stop_signal.hpp"
#include "json/json.hpp"
#include "source/bulk_source.hpp"
#include "source/file_source.hpp"
#include "transport/http_client.hpp"

namespace {

using namespace cf;

int usage(const std::string& why) {
  std::cerr << "bulk_driver: " << why << "\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  cf::install_stop_handlers();  // as cohort-finder's main()
  std::map<std::string, std::string> f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) return usage("unexpected argument " + a);
    a = a.substr(2);
    if (a == "files" || a == "crash-after-kickoff") {
      f[a] = "1";
    } else {
      if (i + 1 >= argc) return usage("--" + a + " needs a value");
      f[a] = argv[++i];
    }
  }
  for (const char* k : {"repo", "out", "summary"})
    if (!f.count(k)) return usage(std::string("--") + k + " is required");
  if (!f.count("files") && !f.count("base")) return usage("--files or --base URL");
  auto num = [&](const char* k, long def) { return f.count(k) ? std::atol(f[k].c_str()) : def; };

  app::RunOptions o;
  o.mappings = f["repo"] + "/mappings";
  o.trial = o.mappings / "trials" / "nct07177911.json";
  o.out = f["out"];
  o.tool_version = app::version();
  auto day = parse_iso_day(f.count("as-of") ? f["as-of"] : "2026-11-26");
  if (!day) return usage("bad --as-of");
  o.as_of = *day;
  if (f.count("state")) o.state = f["state"];
  // Every criterion in full, so that comparisons with the file source cover ineligible patients' evidence
  // too.
  o.ineligible_detail = report::IneligibleDetail::full;
  if (f.count("memory-budget-kb"))
    o.memory_budget_bytes = static_cast<std::size_t>(num("memory-budget-kb", 0)) << 10;
  auto prepared = app::prepare(o);
  if (!prepared) {
    std::cerr << prepared.error().what() << "\n";
    return 3;
  }

  std::mutex log_mu;
  auto log = [&](const std::string& line) {
    std::lock_guard lock(log_mu);
    std::cerr << "bulk: " << line << "\n";
  };

  std::unique_ptr<source::Source> src;
  source::BulkSource* bulk = nullptr;
  if (f.count("files")) {
    auto fs = std::make_unique<source::FileSource>(std::vector<std::filesystem::path>{
        f["repo"] + "/fhir-samples/ndjson", f["repo"] + "/fhir-samples/bundles"});
    fs->set_line_filter(app::line_filter_for(**prepared));
    src = std::move(fs);
  } else {
    transport::ClientOptions co;
    co.connect_timeout = std::chrono::seconds(5);
    co.handshake_timeout = std::chrono::seconds(5);
    co.read_timeout = std::chrono::seconds(10);
    co.total_timeout = std::chrono::seconds(num("total-timeout-s", 30));
    if (f.count("max-body-mb"))
      co.max_body_bytes = co.max_decoded_bytes = static_cast<std::size_t>(num("max-body-mb", 0)) << 20;
    co.ca_file = f.count("ca-file") ? f["ca-file"] : "";
    co.retry.max_attempts = static_cast<int>(num("attempts", 3));
    co.retry.base_delay = std::chrono::milliseconds(100);
    co.retry.max_delay = std::chrono::milliseconds(1000);
    co.retry.max_retry_after = std::chrono::milliseconds(5000);
    co.log = [&](const std::string& line) { log("transport: " + line); };
    auto client = transport::HttpClient::create(co);
    if (!client) return usage(client.error().what());
    transport::ClientOptions ko = co;
    ko.retry.max_attempts = 2;  // the kick-off creates a job: at most one repeat (RELIABILITY B2)
    auto kclient = transport::HttpClient::create(ko);
    if (!kclient) return usage(kclient.error().what());

    source::BulkOptions bo;
    bo.base_url = f["base"];
    auto level = source::parse_bulk_level(f.count("level") ? f["level"] : "system");
    if (!level) return usage(level.error().what());
    bo.level = level->first;
    bo.group_id = level->second;
    const auto plan = app::rest_plan_for(**prepared, true);
    bo.observation_codes = plan.observation_codes;
    bo.observation_texts = plan.observation_texts;
    bo.type_filter = !f.count("type-filter") || f["type-filter"] != "off";
    bo.concurrency = static_cast<int>(num("concurrency", 4));
    bo.poll_interval = std::chrono::milliseconds(num("poll-ms", 1000));
    bo.min_poll_interval = std::chrono::milliseconds(num("min-poll-ms", 200));
    bo.max_poll_interval = std::chrono::milliseconds(num("max-poll-ms", 5000));
    bo.max_error_wait = std::chrono::milliseconds(num("max-error-wait-ms", 20000));
    bo.max_export_wait = std::chrono::milliseconds(num("max-export-wait-ms", 30000));
    if (const char* t = std::getenv("BULK_TOKEN")) bo.authorization = std::string("Bearer ") + t;
    if (f.count("trust")) bo.trusted_file_origins.push_back(f["trust"]);
    bo.line_filter = app::line_filter_for(**prepared);
    bo.kickoff_client = std::shared_ptr<transport::HttpClient>(std::move(*kclient));
    bo.log = log;
    auto b = std::make_unique<source::BulkSource>(std::move(bo),
                                                  std::shared_ptr<transport::HttpClient>(std::move(*client)));
    bulk = b.get();
    if (f.count("since")) b->pull_changes_since(f["since"], {});
    if (f.count("resume-url")) b->set_resume_url(f["resume-url"]);
    const std::string url_file = f.count("status-url-file") ? f["status-url-file"] : "";
    const bool crash = f.count("crash-after-kickoff") > 0;
    // Like the state store would: only when a resume is planned (so a deadline keeps the job instead of
    // deleting it).
    if (!url_file.empty() || crash)
      b->on_status_url([url_file, crash](const std::string& url) {
        if (!url_file.empty()) std::ofstream(url_file, std::ios::trunc) << url;
        if (crash && !url.empty()) std::_Exit(9);  // killed right after the kick-off was recorded
      });
    src = std::move(b);
  }

  auto sum = app::run(o, **prepared, *src);
  int code = !sum ? 4 : sum->complete ? 0 : 5;

  json::Writer w;
  w.begin_object().key("exit").integer(code);
  if (!sum) w.key("error").str(sum.error().what());
  w.key("source").str(src->describe());
  w.key("complete").boolean(src->completeness().complete());
  w.key("incomplete_types").begin_array();
  for (const auto& t : src->completeness().run_types) w.str(t);
  w.end_array();
  w.key("incomplete_patients").begin_object();
  for (const auto& [p, types] : src->completeness().patient_types) {
    w.key(p).begin_array();
    for (const auto& t : types) w.str(t);
    w.end_array();
  }
  w.end_object();
  w.key("foreign_patients").begin_object();  // named by a subject on another server
  for (const auto& [p, types] : src->completeness().foreign_types) {
    w.key(p).begin_array();
    for (const auto& t : types) w.str(t);
    w.end_array();
  }
  w.end_object();
  w.key("read_by_type").begin_object();
  for (const auto& [t, n] : src->stats().read_by_type) w.key(t).integer(static_cast<long long>(n));
  w.end_object();
  if (bulk) {
    w.key("watermark").str(bulk->watermark());
    w.key("changes_only").boolean(bulk->delivered_changes_only());
    w.key("deleted").begin_array();
    for (const auto& k : bulk->deleted()) w.str(k);
    w.end_array();
    w.key("queries").begin_array();  // for the audit log
    for (const auto& q : bulk->queries()) w.str(q);
    w.end_array();
    const auto c = bulk->counters();
    w.key("counters").begin_object();
    w.key("kickoffs")
        .integer(static_cast<long long>(c.kickoffs))
        .key("polls")
        .integer(static_cast<long long>(c.polls));
    w.key("files")
        .integer(static_cast<long long>(c.files))
        .key("failed_files")
        .integer(static_cast<long long>(c.failed_files))
        .key("ranged_files")
        .integer(static_cast<long long>(c.ranged_files));
    w.key("lines")
        .integer(static_cast<long long>(c.lines))
        .key("bytes")
        .integer(static_cast<long long>(c.bytes));
    w.key("waited_ms").integer(static_cast<long long>(c.waited.count()));
    w.key("medication_searches").integer(static_cast<long long>(c.medication_searches));
    w.key("resumed").boolean(c.resumed).key("job_deleted").boolean(c.job_deleted);
    w.end_object();
  }
  if (sum)
    w.key("patients")
        .integer(static_cast<long long>(sum->patients))
        .key("eligible")
        .integer(static_cast<long long>(sum->eligible))
        .key("possible")
        .integer(static_cast<long long>(sum->possible))
        .key("partitions")
        .integer(static_cast<long long>(sum->partitions))
        .key("spilled_bytes")
        .integer(static_cast<long long>(sum->spilled_bytes));
  w.end_object();
  std::ofstream(f["summary"], std::ios::trunc) << w.view() << "\n";
  if (!sum) std::cerr << "bulk_driver: " << sum.error().what() << "\n";
  return code;
}
