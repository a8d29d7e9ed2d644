#pragma once
// Test builders: one FHIR resource per line of NDJSON, evaluated through the real file source, mappings and
// trial engine, so a case stays one line (STYLE.md practice 11).
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "criteria/trial.hpp"
#include "ranking/ranking.hpp"
#include "source/file_source.hpp"
#include "terminology/patient_record.hpp"

namespace cf::test {

inline std::filesystem::path repo() {
  return COHORT_SOURCE_DIR;
}

inline std::shared_ptr<const terminology::Terminology> terms() {
  static auto t = terminology::Terminology::load(repo() / "mappings");
  if (!t) throw std::runtime_error(t.error().what());
  return *t;
}

inline const criteria::Trial& nct() {
  static auto t = criteria::Trial::load(repo() / "mappings/trials/nct07177911.json", *terms());
  if (!t) throw std::runtime_error(t.error().what());
  return *t;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/cf-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path / name, std::ios::binary) << text;
  }
};

inline std::string patient(const std::string& id, const std::string& birth = "1990-01-01") {
  return R"({"resourceType":"Patient","id":")" + id + R"(","birthDate":")" + birth + R"("})";
}
inline std::string lab(const std::string& id, const std::string& pid, const std::string& loinc,
                       const std::string& value, const std::string& unit, const std::string& date,
                       const std::string& extra = "") {
  return R"({"resourceType":"Observation","id":")" + id +
         R"(","status":"final","subject":{"reference":"Patient/)" + pid +
         R"("},"code":{"coding":[{"system":"http://loinc.org","code":")" + loinc +
         R"("}]},"effectiveDateTime":")" + date + R"(","valueQuantity":{"value":)" + value + R"(,"unit":")" +
         unit + R"(","system":"http://unitsofmeasure.org","code":")" + unit + "\"}" + extra + "}";
}
inline std::string condition(const std::string& id, const std::string& pid, const std::string& system,
                             const std::string& code, const std::string& onset,
                             const std::string& extra = "") {
  return R"({"resourceType":"Condition","id":")" + id + R"(","subject":{"reference":"Patient/)" + pid +
         R"("},"code":{"coding":[{"system":")" + system + R"(","code":")" + code +
         R"("}]},"onsetDateTime":")" + onset + "\"" + extra + "}";
}

// Evaluates every criterion of `trial` for every patient in `lines` (NDJSON) on `as_of`.
inline std::map<std::string, ranking::PatientOutcome> evaluate(const std::vector<std::string>& lines,
                                                               const std::string& as_of,
                                                               const criteria::Trial& trial = nct()) {
  TempDir dir;
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  dir.write("data.ndjson", text);
  source::FileSource src(dir.path);
  IssueLog issues;
  terminology::Collector col(terms());
  auto st = src.read(
      [&](source::Page&& p) {
        for (auto& r : p.resources) col.add(std::move(r));
      },
      issues);
  if (!st) throw std::runtime_error(st.error().what());
  auto records = col.finish(issues);
  std::map<std::string, ranking::PatientOutcome> out;
  for (const auto& [id, rec] : records) {
    criteria::Context ctx{
        rec,
        *terms(),
        *parse_iso_day(as_of),
        [&](const std::string& p, const std::string& t) { return src.completeness().incomplete(p, t); },
        trial.sledai_window,
        std::nullopt};
    out[id] = ranking::assess(trial, ctx);
  }
  return out;
}

inline std::string outcome_of(const ranking::PatientOutcome& o, const std::string& criterion) {
  for (const auto& r : o.results)
    if (r.id == criterion) return criteria::to_string(r.outcome);
  return "missing";
}

}  // namespace cf::test
