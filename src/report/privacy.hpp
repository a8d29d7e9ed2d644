#pragma once
// Export modes and what each removes from the outcomes before any writer sees them:
//   identified    everything, as evaluated (for the study team's screening log);
//   limited       names dropped (PatientOutcome carries no address), ids and dates kept: a HIPAA-style
//                 limited data set. Free text in results is kept;
//   deidentified  ids replaced by keyed HMAC-SHA256 pseudonyms; every date of a patient shifted by one
//                 offset derived from the same key (-30..-1 or +1..+30 days: never 0, so no true date
//                 survives); free text removed (reasons, notes, display strings, value text with letters,
//                 file locations); the score withheld (0), as its recency term would reveal the shift;
//   safe-harbor   as deidentified, but every date reduced to its year instead of shifted, and a patient who
//                 may be over 89 on the as-of date shown as "90+" with no birth year (HIPAA Safe Harbor,
//                 45 CFR 164.514(b)(2)); the trend series (day by day) are dropped;
//   counts        no patient-level output at all: attrition.csv and the manifest, with every count of
//                 patients through a small-cell rule (report/counts.hpp).
// Tiers, ranks, order and criterion outcomes never change: privacy is applied after ranking.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data_issue.hpp"
#include "core/result.hpp"
#include "criteria/trial.hpp"
#include "ranking/ranking.hpp"
#include "report/outputs.hpp"

namespace cf::report {

enum class ExportMode { identified, limited, deidentified, safe_harbor, counts };
const char* to_string(ExportMode m);
std::optional<ExportMode> parse_export_mode(std::string_view s);
// Ids replaced by keyed pseudonyms (deidentified, safe-harbor): these modes need a PrivacyKey.
bool pseudonymised(ExportMode m);

// SHA-256 and HMAC-SHA256 (RFC 2104) as 32 raw bytes, on top of core's Sha256 (OpenSSL stays in transport/).
std::string sha256_digest(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view message);

// The secret behind pseudonyms and date offsets. Whoever holds it can re-identify, so it never appears in
// outputs.
class PrivacyKey {
 public:
  static constexpr std::size_t kMinBytes = 32;
  // Fails when the key is shorter than kMinBytes.
  static Result<PrivacyKey> from_secret(std::string secret);

  // "pt-" + 20 hex digits of HMAC(id) + 8 hex digits of a tag over those, so that is_pseudonym() can tell
  // (with this key) an already pseudonymised id from a raw one: apply_privacy() is then idempotent.
  std::string pseudonym(std::string_view patient_id) const;
  bool is_pseudonym(std::string_view id) const;
  // "Observation/obs-1" -> "Observation/r-<24 hex>"; "Patient/x" -> "Patient/" + pseudonym(x).
  std::string pseudonym_reference(std::string_view reference) const;
  // The per-patient date shift in days: in [-30, -1] or [1, 30].
  int day_offset(std::string_view patient_id) const;

 private:
  explicit PrivacyKey(std::string secret) : secret_(std::move(secret)) {}
  std::string mac(std::string_view domain, std::string_view data) const;
  std::string secret_;
};

// Reads the key file: its bytes, minus trailing whitespace (so `head -c 48 /dev/urandom | base64 > key`
// works).
Result<PrivacyKey> read_privacy_key(const std::filesystem::path& file);

// A FHIR date/dateTime/instant shifted by `days`, keeping its precision and any time and zone as written;
// "" when `text` is not a date. Partial dates shift their midpoint, so "1990" stays a year.
std::string shift_date_text(std::string_view text, int days);

// The year of a FHIR date/dateTime/instant as written ("2024-03-01T10:00:00+14:00" -> "2024"); "" when
// `text` is not a date.
std::string year_of_date_text(std::string_view text);
// Safe Harbor's age rule: true when someone born in that birth date's year may be 90 or older on `as_of`
// (the year is what a safe-harbor export shows), or when that cannot be told (no as-of date; a birth date
// that is not a date).
bool may_be_over_89(std::string_view birth_date, std::optional<Days> as_of);
// "94 years on [date]" -> "90+ years on [date]"; "89-90 years" -> "90+ years"; ages under 90 stay.
std::string cap_ages(std::string_view text);

// The outcomes for `mode`, in the same order, with the same tiers and ranks. In the pseudonymised modes
// `key` is required (a null key is a bug: the outcomes are dropped rather than leaked), and safe-harbor also
// needs `as_of` for its age rule (without it every birth date is withheld); `trial` lets the check-next
// texts be rebuilt from the definition instead of dropped. Feed the result to every writer (csv, ndjson,
// html, group).
std::vector<ranking::PatientOutcome> apply_privacy(std::vector<ranking::PatientOutcome> outcomes,
                                                   ExportMode mode, const PrivacyKey* key,
                                                   const criteria::Trial* trial = nullptr,
                                                   std::optional<Days> as_of = std::nullopt);
// The same for the run metadata ("Condition (patient X)" in `incomplete`) and the data issues (resource
// pseudonymised; location and message dropped).
RunInfo apply_privacy(RunInfo info, ExportMode mode, const PrivacyKey* key);
std::vector<DataIssue> apply_privacy(std::vector<DataIssue> issues, ExportMode mode, const PrivacyKey* key);

// True when `id` has the shape of a pseudonym (used by writers that have no key to fail closed).
bool looks_like_pseudonym(std::string_view id);

}  // namespace cf::report
