#include "report/privacy.hpp"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "core/date.hpp"
#include "core/secret_file.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "report/counts.hpp"

namespace cf::report {

namespace {

std::string unhex(std::string_view h) {
  auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out(h.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<char>(nib(h[2 * i]) * 16 + nib(h[2 * i + 1]));
  return out;
}

std::string hex_of(std::string_view bytes, std::size_t n) {
  return hex(reinterpret_cast<const unsigned char*>(bytes.data()), n < bytes.size() ? n : bytes.size());
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f');
}

// Letters in any script: ASCII letters, and every non-ASCII byte (CJK, accented names...).
bool has_letters(std::string_view s) {
  for (unsigned char c : s)
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80) return true;
  return false;
}

// Tool-generated text may embed a patient's dates ("2024-03-01 to ongoing"); they are masked rather than
// shifted, because text such as "51 years on <as-of>" would otherwise reveal the offset against the public
// as-of date.
std::string mask_dates(std::string_view s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    const bool start = (i == 0 || !is_digit(s[i - 1])) && i + 7 <= s.size() && is_digit(s[i]) &&
                       is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) && s[i + 4] == '-' &&
                       is_digit(s[i + 5]) && is_digit(s[i + 6]);
    if (!start) {
      out += s[i++];
      continue;
    }
    std::size_t j = i + 7;
    if (j + 3 <= s.size() && s[j] == '-' && is_digit(s[j + 1]) && is_digit(s[j + 2])) j += 3;
    if (j < s.size() && s[j] == 'T')
      while (j < s.size() && (is_digit(s[j]) || s[j] == 'T' || s[j] == ':' || s[j] == '.' || s[j] == '+' ||
                              s[j] == '-' || s[j] == 'Z'))
        ++j;
    out += "[date]";
    i = j;
  }
  return out;
}

bool has_date(std::string_view s) {
  return mask_dates(s) != s;
}

// A unit as a lab system writes it ("IU/mL", "10^9/L", "µmol/L"), not prose.
bool unit_like(std::string_view u) {
  if (u.size() > 20) return false;
  std::string rest(u);
  for (const char* micro : {"\xC2\xB5", "\xCE\xBC"})
    for (auto p = rest.find(micro); p != std::string::npos; p = rest.find(micro)) rest.replace(p, 2, "u");
  for (char c : rest)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) ||
          std::string_view("/%*.^()[]{}'_- ").find(c) != std::string_view::npos))
      return false;
  return true;
}

// "http://loinc.org|2160-0 Creatinine ..." -> "http://loinc.org|2160-0"; text matches ("text '...'") -> "".
std::string code_only(std::string_view coding) {
  auto bar = coding.find('|');
  if (bar == std::string_view::npos) return {};
  return std::string(coding.substr(0, coding.find(' ', bar)));
}

std::string format_value(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.5g", v);
  return buf;
}

struct Deidentifier {
  const PrivacyKey& key;
  const criteria::Trial* trial;
  int offset = 0;
  bool year_only = false;        // safe-harbor: dates kept as years, not shifted
  std::string birth_as_written;  // the patient's birth date, withheld everywhere when over_89
  bool over_89 = false;

  std::string date(std::string_view s) const {
    if (over_89 && !s.empty() && s == birth_as_written) return {};
    return year_only ? year_of_date_text(s) : shift_date_text(s, offset);
  }
  // Text the tool wrote about a patient: dates masked, and in safe-harbor ages over 89 capped.
  std::string text(std::string_view s) const {
    std::string out = mask_dates(s);
    return year_only ? cap_ages(out) : out;
  }

  void evidence(criteria::Evidence& e) const {
    e.resource = key.pseudonym_reference(e.resource);
    e.last_updated = date(e.last_updated);
    e.location.clear();
    e.coding = code_only(e.coding);
    const bool was_date = !date(e.original).empty() || (over_89 && e.original == birth_as_written);
    std::string shifted = date(e.original);
    e.original = was_date ? shifted : (has_letters(e.original) || has_date(e.original)) ? "" : e.original;
    e.normalised = text(e.normalised);
    e.conversion = text(e.conversion);
    e.date = date(e.date);
    e.note.clear();
  }

  std::string check_next(const std::string& entry) const {
    const std::string id = entry.substr(0, entry.find(": "));
    if (trial)
      for (const auto& c : trial->criteria)
        if (c.id == id) return id + ": " + (c.check_next.empty() ? c.label : c.check_next);
    return id;
  }

  void outcome(ranking::PatientOutcome& o) const {
    o.name.clear();
    o.birth_date = date(o.birth_date);
    for (auto& r : o.results) {
      r.reason.clear();
      for (auto& e : r.evidence) evidence(e);
    }
    for (auto& e : o.bounds.evidence) evidence(e);
    for (auto& e : o.deceased_evidence) evidence(e);
    for (auto& c : o.check_next) c = check_next(c);
    for (auto& kv : o.key_values) {
      // Prefer the plotted value (canonical unit, made by the tool) over the text as written.
      const ranking::LabPoint* p = nullptr;
      for (const auto& s : o.series)
        if (s.resource == kv.resource && s.concept_id == kv.concept_id) p = &s;
      if (p)
        kv.value = p->comparator + format_value(p->value) + (unit_like(p->unit) ? " " + p->unit : "");
      else if (has_letters(kv.value) || has_date(kv.value))
        kv.value.clear();
      kv.date = date(kv.date);
      kv.resource = key.pseudonym_reference(kv.resource);
    }
    if (year_only) {
      o.series.clear();  // points are days: a chart by year would misplace every one of them
      o.newest_key_result.reset();
    }
    for (auto& s : o.series) {
      s.day += offset;
      s.resource = key.pseudonym_reference(s.resource);
      // A unit written as free text is withheld, but kits in different units must still not share an
      // axis: each such unit gets a keyed tag of its own.
      if (!unit_like(s.unit)) {
        const std::string tag = key.pseudonym_reference("unit/" + s.unit);
        s.unit = "unit " + tag.substr(tag.size() - 6);
      }
    }
    if (o.newest_key_result) *o.newest_key_result += offset;
    // The score's recency term is a function of the true date of the newest key result: with the counts and
    // bounds that are published next to it, it would give the date shift (or the day) away. The rank, which
    // it decided, stays.
    o.score = 0;
    o.patient_id = key.pseudonym(o.patient_id);
    o.pseudonymised = true;
  }
};

}  // namespace

const char* to_string(ExportMode m) {
  switch (m) {
    case ExportMode::identified:
      return "identified";
    case ExportMode::limited:
      return "limited";
    case ExportMode::deidentified:
      return "deidentified";
    case ExportMode::safe_harbor:
      return "safe-harbor";
    case ExportMode::counts:
      return "counts";
  }
  return "deidentified";
}

std::optional<ExportMode> parse_export_mode(std::string_view s) {
  if (s == "identified") return ExportMode::identified;
  if (s == "limited") return ExportMode::limited;
  if (s == "deidentified") return ExportMode::deidentified;
  if (s == "safe-harbor") return ExportMode::safe_harbor;
  if (s == "counts") return ExportMode::counts;
  return std::nullopt;
}

bool pseudonymised(ExportMode m) {
  return m == ExportMode::deidentified || m == ExportMode::safe_harbor;
}

std::string sha256_digest(std::string_view data) {
  return unhex(sha256_hex(data));
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  std::string k = key.size() > 64 ? sha256_digest(key) : std::string(key);
  k.resize(64, '\0');
  std::string ipad(64, '\0'), opad(64, '\0');
  for (std::size_t i = 0; i < 64; ++i) {
    ipad[i] = static_cast<char>(k[i] ^ 0x36);
    opad[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  Sha256 inner;
  inner.update(ipad);
  inner.update(message);
  Sha256 outer;
  outer.update(opad);
  outer.update(unhex(inner.hex_digest()));
  return unhex(outer.hex_digest());
}

Result<PrivacyKey> PrivacyKey::from_secret(std::string secret) {
  if (secret.size() < kMinBytes)
    return make_error("the pseudonym key has " + std::to_string(secret.size()) + " bytes; at least " +
                      std::to_string(kMinBytes) +
                      " are needed (e.g. head -c 48 /dev/urandom | base64 > FILE)");
  return PrivacyKey(std::move(secret));
}

std::string PrivacyKey::mac(std::string_view domain, std::string_view data) const {
  // Domain separation: a patient id, a resource reference and a date offset never share a MAC input.
  std::string msg(domain);
  msg += '\0';
  msg += data;
  return hmac_sha256(secret_, msg);
}

std::string PrivacyKey::pseudonym(std::string_view patient_id) const {
  const std::string body = hex_of(mac("patient", patient_id), 10);
  return "pt-" + body + hex_of(mac("patient-tag", body), 4);
}

bool PrivacyKey::is_pseudonym(std::string_view id) const {
  if (!looks_like_pseudonym(id)) return false;
  return id.substr(23) == hex_of(mac("patient-tag", id.substr(3, 20)), 4);
}

std::string PrivacyKey::pseudonym_reference(std::string_view reference) const {
  if (reference.empty()) return {};
  auto slash = reference.find('/');
  if (slash == std::string_view::npos) return "r-" + hex_of(mac("resource", reference), 12);
  const std::string_view type = reference.substr(0, slash);
  if (type == "Patient") return "Patient/" + pseudonym(reference.substr(slash + 1));
  return std::string(type) + "/r-" + hex_of(mac("resource", reference), 12);
}

int PrivacyKey::day_offset(std::string_view patient_id) const {
  const std::string b = mac("date-offset", patient_id);
  std::uint32_t x = 0;
  for (int i = 0; i < 4; ++i) x = (x << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
  const int v = static_cast<int>(x % 60);  // 0..59 -> -30..-1, 1..30
  return v < 30 ? v - 30 : v - 29;
}

bool looks_like_pseudonym(std::string_view id) {
  if (id.size() != 31 || id.substr(0, 3) != "pt-") return false;
  for (char c : id.substr(3))
    if (!is_hex(c)) return false;
  return true;
}

Result<PrivacyKey> read_privacy_key(const std::filesystem::path& file) {
  auto read = read_secret_file(file, "pseudonym key");
  if (!read) return read.error();
  std::string secret = std::move(*read);
  while (!secret.empty() &&
         (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ' || secret.back() == '\t'))
    secret.pop_back();
  auto key = PrivacyKey::from_secret(std::move(secret));
  if (!key) return make_error(key.error().message, file.string());
  return key;
}

std::string shift_date_text(std::string_view text, int days) {
  auto d = parse_fhir_date(text, DateKind::date_time);
  if (!d) return {};
  const Days mid = d->first + (d->last - d->first) / 2 + days;
  int y = 0;
  unsigned m = 0, day = 0;
  civil_from_days(mid, y, m, day);
  char buf[16];
  switch (d->precision) {
    case DatePrecision::year:
      std::snprintf(buf, sizeof buf, "%04d", y);
      return buf;
    case DatePrecision::month:
      std::snprintf(buf, sizeof buf, "%04d-%02u", y, m);
      return buf;
    case DatePrecision::day:
      break;
  }
  return format_day(mid) + std::string(text.substr(10));  // time and zone as written
}

std::string year_of_date_text(std::string_view text) {
  if (!parse_fhir_date(text, DateKind::date_time)) return {};
  return std::string(text.substr(0, 4));
}

bool may_be_over_89(std::string_view birth_date, std::optional<Days> as_of) {
  if (birth_date.empty()) return false;
  auto d = parse_fhir_date(birth_date, DateKind::date);
  if (!d || !as_of) return true;
  // Judged on what is published, the year: born in 1936, a person is 89 or 90 on 2026-11-26, so that year
  // can be "indicative of an age over 89" and is withheld even for someone born on 1936-12-31.
  int y = 0;
  unsigned m = 0, day = 0;
  civil_from_days(d->first, y, m, day);
  return completed_years(days_from_civil(y, 1, 1), *as_of) >= 90;
}

std::string cap_ages(std::string_view text) {
  // The age leaf writes "N years" or "A-B years" (a partial birth date): the numbers before " years".
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i]) || (i > 0 && (is_digit(text[i - 1]) || text[i - 1] == '-'))) {
      out += text[i++];
      continue;
    }
    std::size_t j = i;
    int highest = 0;
    while (true) {
      int v = 0;
      const std::size_t from = j;
      while (j < text.size() && is_digit(text[j]) && j - from < 4) v = v * 10 + (text[j++] - '0');
      highest = std::max(highest, v);
      if (j < text.size() && text[j] == '-' && j + 1 < text.size() && is_digit(text[j + 1])) {
        ++j;
        continue;
      }
      break;
    }
    const bool years = text.substr(j).starts_with(" years");
    const bool more_digits = j < text.size() && is_digit(text[j]);
    if (years && !more_digits && highest >= 90)
      out += "90+";
    else
      out += text.substr(i, j - i);
    i = j;
  }
  return out;
}

std::vector<ranking::PatientOutcome> apply_privacy(std::vector<ranking::PatientOutcome> outcomes,
                                                   ExportMode mode, const PrivacyKey* key,
                                                   const criteria::Trial* trial, std::optional<Days> as_of) {
  if (mode == ExportMode::identified) return outcomes;
  if (mode == ExportMode::limited) {
    for (auto& o : outcomes) o.name.clear();
    return outcomes;
  }
  if (mode == ExportMode::counts)
    return {};  // no writer shows a patient: only aggregates (report/counts.hpp)
  assert(key && "pseudonymised exports need a pseudonym key");
  if (!key) return {};  // fail closed
  const bool year_only = mode == ExportMode::safe_harbor;
  for (auto& o : outcomes) {
    if (key->is_pseudonym(o.patient_id)) {  // already de-identified with this key
      o.pseudonymised = true;
      continue;
    }
    Deidentifier d{*key,      trial,        key->day_offset(o.patient_id),
                   year_only, o.birth_date, year_only && may_be_over_89(o.birth_date, as_of)};
    d.outcome(o);
  }
  return outcomes;
}

RunInfo apply_privacy(RunInfo info, ExportMode mode, const PrivacyKey* key) {
  if (mode == ExportMode::counts) return counts_run_info(std::move(info), CellPolicy{});
  if (!pseudonymised(mode)) return info;
  assert(key && "pseudonymised exports need a pseudonym key");
  // Unidentified drugs by their codes only (as evidence codings): names are free text and may hold more than
  // a drug's name; a drug known only by its name is left out.
  std::erase_if(info.unidentified_drugs, [](const auto& d) { return d.codes.empty(); });
  for (auto& d : info.unidentified_drugs) d.name.clear();
  for (auto& s : info.incomplete) {
    const std::string marker = " (patient ";
    auto p = s.find(marker);
    if (p == std::string::npos || s.back() != ')') continue;
    const std::string id = s.substr(p + marker.size(), s.size() - 1 - p - marker.size());
    s = s.substr(0, p) + marker + (key ? key->pseudonym(id) : "removed") + ")";
  }
  return info;
}

std::vector<DataIssue> apply_privacy(std::vector<DataIssue> issues, ExportMode mode, const PrivacyKey* key) {
  if (mode == ExportMode::counts) return {};  // each issue names a resource
  if (!pseudonymised(mode)) return issues;
  assert(key && "pseudonymised exports need a pseudonym key");
  for (auto& i : issues) {
    i.resource = key ? key->pseudonym_reference(i.resource) : "";
    i.location.clear();
    i.message.clear();
  }
  return issues;
}

}  // namespace cf::report
