// Deterministic generator of synthetic Bulk-Data-style FHIR R4 NDJSON for the cohort-finder benchmark.
//
//   gen_ndjson --patients N [--seed S] [--as-of 2026-11-26] --out DIR
//
// Writes DIR/Patient.ndjson, Condition.ndjson, Observation.ndjson, MedicationRequest.ndjson,
// Procedure.ndjson, and DIR/expected-simplified.txt: the sorted ids of the patients that the simplified query
// of bench/README.md selects, computed from the facts the generator decided (not by reading the JSON back),
// and DIR/gen-info.txt. The output is a pure function of (N, seed, as-of): every patient has its own random
// stream, so patient i is the same whatever N is. All data are synthetic. See bench/README.md for what the
// population looks like.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

// ---- randomness
// -------------------------------------------------------------------------------------------------
struct Rng {
  std::uint64_t s;
  explicit Rng(std::uint64_t seed) : s(seed) {}
  std::uint64_t next() {  // splitmix64
    std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uni() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  long range(long lo, long hi) {
    return lo + static_cast<long>(next() % static_cast<std::uint64_t>(hi - lo + 1));
  }
  bool chance(double p) { return uni() < p; }
  template <class T, std::size_t K>
  const T& pick(const std::array<T, K>& a) {
    return a[next() % K];
  }
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  Rng r(a * 0x100000001b3ULL ^ (b + 0x632be59bd9b4e019ULL));
  r.next();
  return r.next();
}

// ---- dates (days since 1970-01-01, proleptic Gregorian)
// ---------------------------------------------------------
long days_from_civil(long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long>(doe) - 719468;
}
struct Ymd {
  long y;
  unsigned m, d;
};
Ymd civil_from_days(long z) {
  z += 719468;
  const long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long y = static_cast<long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m, d};
}

// ---- output helpers
// ---------------------------------------------------------------------------------------------
using S = std::string;

void put2(S& o, unsigned v) {
  o += static_cast<char>('0' + v / 10);
  o += static_cast<char>('0' + v % 10);
}
void put_day(S& o, long day) {
  Ymd c = civil_from_days(day);
  char b[12];
  std::snprintf(b, sizeof b, "%04ld-%02u-%02u", c.y, c.m, c.d);
  o += b;
}
void put_int(S& o, long v) {
  char b[24];
  int n = std::snprintf(b, sizeof b, "%ld", v);
  o.append(b, static_cast<std::size_t>(n));
}
// v / 10^dec, written without trailing zeros ("221.05", "2.5", "85").
void put_fixed(S& o, long v, int dec) {
  if (v < 0) {
    o += '-';
    v = -v;
  }
  long p = 1;
  for (int i = 0; i < dec; ++i) p *= 10;
  put_int(o, v / p);
  long frac = v % p;
  if (dec > 0 && frac) {
    char b[24];
    std::snprintf(b, sizeof b, "%0*ld", dec & 15, frac);
    std::size_t n = std::strlen(b);
    while (n && b[n - 1] == '0') --n;
    o += '.';
    o.append(b, n);
  }
}
const char kHex[] = "0123456789abcdef";
void put_uuid(S& o, Rng& r) {
  std::uint64_t a = r.next(), b = r.next();
  char u[36];
  int k = 0;
  for (int i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      u[i] = '-';
      continue;
    }
    std::uint64_t& w = k < 16 ? a : b;
    u[i] = kHex[w & 15];
    w >>= 4;
    ++k;
  }
  u[14] = '4';
  u[19] = kHex[8 + (a & 3)];
  o.append(u, 36);
}
// dateTime on `day` in one of a few zones; local times chosen so that the UTC date is the same day.
void put_datetime(S& o, long day, int minute_of_day, int zone) {
  put_day(o, day);
  o += 'T';
  put2(o, static_cast<unsigned>(minute_of_day / 60));
  o += ':';
  put2(o, static_cast<unsigned>(minute_of_day % 60));
  o += ":00";
  static const char* kZones[] = {"+08:00", "Z", "-05:00", "+01:00"};
  o += kZones[zone & 3];
}
int local_minute(Rng& r, int zone) {
  // +08:00: 08:00-15:59; Z: 06:00-21:59; -05:00: 07:00-18:59; +01:00: 07:00-22:00 -> same UTC date.
  switch (zone & 3) {
    case 0:
      return static_cast<int>(r.range(8 * 60, 15 * 60 + 59));
    case 1:
      return static_cast<int>(r.range(6 * 60, 21 * 60 + 59));
    case 2:
      return static_cast<int>(r.range(7 * 60, 18 * 60 + 59));
    default:
      return static_cast<int>(r.range(7 * 60, 22 * 60));
  }
}

constexpr const char* LOINC = "http://loinc.org";
constexpr const char* SCT = "http://snomed.info/sct";
constexpr const char* ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm";
constexpr const char* RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm";
constexpr const char* UCUM = "http://unitsofmeasure.org";
constexpr const char* LOCAL_LAB = "http://hospital.example.org/fhir/CodeSystem/lab-test";
constexpr const char* LOCAL_DX = "http://hospital.example.org/fhir/CodeSystem/diagnosis";
constexpr const char* V3_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

// ---- catalogues
// -------------------------------------------------------------------------------------------------
struct Lab {
  const char* loinc;
  const char* display;
  const char* text;
  const char* local;  // local code (shown before LOINC for some sites)
  const char* local_display;
  const char* ucum;  // Quantity.code
  const char* unit;  // Quantity.unit as displayed
  long lo, hi;       // reference range, scaled by 10^dec
  int dec;
};

// Routine panels. Only creatinine (BMP), WBC, platelets and haemoglobin (CBC) and body temperature (vitals)
// are used by the trial definition; everything else is read and thrown away.
const Lab kBmp[] = {
    {"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "Glucose", "GLU", "葡萄糖", "mg/dL", "mg/dL", 70,
     99, 0},
    {"2951-2", "Sodium [Moles/volume] in Serum or Plasma", "Sodium", "NA", "钠", "mmol/L", "mmol/L", 136, 145,
     0},
    {"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "Potassium", "K", "钾", "mmol/L", "mmol/L", 35,
     51, 1},
    {"2075-0", "Chloride [Moles/volume] in Serum or Plasma", "Chloride", "CL", "氯", "mmol/L", "mmol/L", 98,
     107, 0},
    {"2028-9", "Carbon dioxide, total [Moles/volume] in Serum or Plasma", "CO2", "CO2", "二氧化碳", "mmol/L",
     "mmol/L", 22, 29, 0},
    {"3094-0", "Urea nitrogen [Mass/volume] in Serum or Plasma", "BUN", "BUN", "尿素氮", "mg/dL", "mg/dL", 7,
     20, 0},
    {"17861-6", "Calcium [Mass/volume] in Serum or Plasma", "Calcium", "CA", "钙", "mg/dL", "mg/dL", 86, 103,
     1},
};
const Lab kCbc[] = {
    {"6690-2", "Leukocytes [#/volume] in Blood by Automated count", "WBC", "WBC", "白细胞计数", "10*3/uL",
     "10^3/uL", 40, 110, 1},
    {"789-8", "Erythrocytes [#/volume] in Blood by Automated count", "RBC", "RBC", "红细胞计数", "10*6/uL",
     "10^6/uL", 420, 590, 2},
    {"718-7", "Hemoglobin [Mass/volume] in Blood", "Hemoglobin", "HGB", "血红蛋白", "g/dL", "g/dL", 120, 175,
     1},
    {"4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "Hematocrit", "HCT", "红细胞压积",
     "%", "%", 360, 500, 1},
    {"787-2", "MCV [Entitic volume] by Automated count", "MCV", "MCV", "平均红细胞体积", "fL", "fL", 800,
     1000, 1},
    {"785-6", "MCH [Entitic mass] by Automated count", "MCH", "MCH", "平均血红蛋白量", "pg", "pg", 270, 330,
     1},
    {"786-4", "MCHC [Mass/volume] by Automated count", "MCHC", "MCHC", "平均血红蛋白浓度", "g/dL", "g/dL",
     320, 360, 1},
    {"788-0", "Erythrocyte distribution width [Ratio] by Automated count", "RDW", "RDW", "红细胞分布宽度",
     "%", "%", 115, 145, 1},
    {"777-3", "Platelets [#/volume] in Blood by Automated count", "Platelets", "PLT", "血小板计数", "10*3/uL",
     "10^3/uL", 150, 400, 0},
};
const Lab kLipid[] = {
    {"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "Total cholesterol", "CHOL", "总胆固醇",
     "mg/dL", "mg/dL", 125, 200, 0},
    {"2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "Triglycerides", "TG", "甘油三酯", "mg/dL",
     "mg/dL", 40, 150, 0},
    {"2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "HDL cholesterol", "HDL",
     "高密度脂蛋白", "mg/dL", "mg/dL", 40, 60, 0},
    {"18262-6", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by Direct assay", "LDL cholesterol",
     "LDL", "低密度脂蛋白", "mg/dL", "mg/dL", 50, 130, 0},
};
const Lab kLiver[] = {
    {"1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "ALT", "ALT",
     "丙氨酸氨基转移酶", "U/L", "U/L", 7, 56, 0},
    {"1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "AST", "AST",
     "天门冬氨酸氨基转移酶", "U/L", "U/L", 10, 40, 0},
    {"6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "ALP", "ALP",
     "碱性磷酸酶", "U/L", "U/L", 44, 147, 0},
    {"1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "Total bilirubin", "TBIL", "总胆红素",
     "mg/dL", "mg/dL", 1, 12, 1},
    {"1751-7", "Albumin [Mass/volume] in Serum or Plasma", "Albumin", "ALB", "白蛋白", "g/dL", "g/dL", 35, 50,
     1},
};
const Lab kMisc[] = {
    {"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "HbA1c", "HBA1C", "糖化血红蛋白", "%", "%", 40, 56,
     1},
    {"3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "TSH", "TSH", "促甲状腺激素", "m[IU]/L",
     "mIU/L", 40, 400, 2},
    {"2947-0", "Sodium [Moles/volume] in Blood", "Sodium (blood)", "NA-B", "全血钠", "mmol/L", "mmol/L", 136,
     145, 0},
    {"30522-7", "C reactive protein [Mass/volume] in Serum or Plasma by High sensitivity method", "hs-CRP",
     "HSCRP", "超敏C反应蛋白", "mg/L", "mg/L", 0, 30, 1},
    {"2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "Ferritin", "FER", "铁蛋白", "ng/mL", "ng/mL", 24,
     336, 0},
};
struct Vital {
  const char* loinc;
  const char* display;
  const char* ucum;
  const char* unit;
  long lo, hi;
  int dec;
};
const Vital kVitals[] = {
    {"8867-4", "Heart rate", "/min", "beats/minute", 60, 100, 0},
    {"9279-1", "Respiratory rate", "/min", "breaths/minute", 12, 20, 0},
    {"29463-7", "Body weight", "kg", "kg", 450, 1100, 1},
    {"8302-2", "Body height", "cm", "cm", 1500, 1950, 1},
    {"39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", 185, 300, 1},
    {"2708-6", "Oxygen saturation in Arterial blood", "%", "%", 95, 100, 0},
};

// ---- ground truth of the simplified query
// -----------------------------------------------------------------------
struct Facts {
  std::string id;
  long birth = 0;
  bool deceased = false;
  bool sle = false;  // a Condition with an SLE code that is not refuted / entered-in-error / tentative
  struct Dated {
    long day;
    bool usable;  // status not entered-in-error / cancelled
    bool flag;    // serology: positive; creatinine: > 2.5 mg/dL; IgA: < 10 mg/dL
  };
  std::vector<Dated> dsdna, ana, creat, iga;
};

int age_on(long birth, long asof) {
  Ymd b = civil_from_days(birth), a = civil_from_days(asof);
  int age = static_cast<int>(a.y - b.y);
  if (a.m < b.m || (a.m == b.m && a.d < b.d)) --age;
  return age;
}

// The query of bench/README.md, on the generator's own facts.
bool selected(const Facts& f, long asof) {
  if (f.deceased) return false;
  const int age = age_on(f.birth, asof);
  if (age < 18 || age > 65) return false;
  if (!f.sle) return false;
  auto latest_flag = [&](const std::vector<Facts::Dated>& v, long from) {
    long best = -1000000;
    for (const auto& x : v)
      if (x.usable && x.day >= from && x.day <= asof) best = std::max(best, x.day);
    bool any = false;
    for (const auto& x : v)
      if (x.usable && x.day == best) any = any || x.flag;
    return any;
  };
  if (!latest_flag(f.dsdna, asof - 365) && !latest_flag(f.ana, asof - 365)) return false;
  for (const auto& x : f.creat)
    if (x.usable && x.flag && x.day >= asof - 56 && x.day <= asof) return false;
  if (latest_flag(f.iga, -1000000)) return false;
  return true;
}

// ---- resource writers
// -------------------------------------------------------------------------------------------
struct Ctx {
  Rng& r;
  long asof;
  std::string pid;
  int zone;
  int site;  // 0: LOINC only, 1: local code before LOINC, 2: local code only (for labs)
  bool narrative_site;
  bool us_core = false;  // meta.profile present
  bool lab_ids = false;  // Observation.identifier and performer present
};

void put_meta(S& o, Rng& r, long asof, const char* profile) {
  o += "\"meta\":{\"versionId\":\"";
  put_int(o, r.range(1, 3));
  o += "\",\"lastUpdated\":\"";
  put_day(o, asof - r.range(0, 400));
  o += 'T';
  put2(o, static_cast<unsigned>(r.range(0, 23)));
  o += ':';
  put2(o, static_cast<unsigned>(r.range(0, 59)));
  o += ':';
  put2(o, static_cast<unsigned>(r.range(0, 59)));
  o += ".";
  put_int(o, r.range(100, 999));
  o += "+00:00\"";
  if (profile) {
    o += ",\"profile\":[\"";
    o += profile;
    o += "\"]";
  }
  o += "},";
}

void coding(S& o, const char* system, const char* code, const char* display) {
  o += "{\"system\":\"";
  o += system;
  o += "\",\"code\":\"";
  o += code;
  o += '"';
  if (display) {
    o += ",\"display\":\"";
    o += display;
    o += '"';
  }
  o += '}';
}

void quantity(S& o, long v, int dec, const char* unit, const char* ucum) {
  o += "{\"value\":";
  put_fixed(o, v, dec);
  o += ",\"unit\":\"";
  o += unit;
  o += '"';
  if (ucum) {
    o += ",\"system\":\"http://unitsofmeasure.org\",\"code\":\"";
    o += ucum;
    o += '"';
  }
  o += '}';
}

enum class Val { quantity, string, none };
struct ObsOut {
  const char* category = "laboratory";
  const char* loinc = nullptr;
  const char* loinc_display = nullptr;
  const char* text = nullptr;
  const char* local = nullptr;
  const char* local_display = nullptr;
  long day = 0;
  const char* status = "final";
  Val kind = Val::quantity;
  long value = 0;
  int dec = 0;
  const char* unit = nullptr;
  const char* ucum = nullptr;  // null: no UCUM system/code (unit text only)
  const char* vstring = nullptr;
  const char* interp = nullptr;
  bool has_range = false;
  long lo = 0, hi = 0;  // same scale as value; lo < 0: no low
  bool narrative = false;
  bool extension = false;
};

const char* interp_display(const char* c) {
  if (!std::strcmp(c, "H")) return "High";
  if (!std::strcmp(c, "L")) return "Low";
  if (!std::strcmp(c, "N")) return "Normal";
  if (!std::strcmp(c, "POS")) return "Positive";
  if (!std::strcmp(c, "NEG")) return "Negative";
  if (!std::strcmp(c, "HH")) return "Critical high";
  return nullptr;
}

void observation(S& o, Ctx& c, const std::string& encounter, const ObsOut& x) {
  Rng& r = c.r;
  o += "{\"resourceType\":\"Observation\",\"id\":\"";
  put_uuid(o, r);
  o += "\",";
  put_meta(o, r, c.asof,
           !c.us_core ? nullptr
           : !std::strcmp(x.category, "laboratory")
               ? "http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab"
               : "http://hl7.org/fhir/StructureDefinition/vitalsigns");
  if (x.narrative) {
    o += "\"text\":{\"status\":\"generated\",\"div\":\"<div "
         "xmlns=\\\"http://www.w3.org/1999/xhtml\\\"><p><b>Generated "
         "Narrative: Observation</b></p><p><b>status</b>: ";
    o += x.status;
    o += "</p><p><b>code</b>: <span title=\\\"Codes: {http://loinc.org ";
    o += x.loinc ? x.loinc : "";
    o += "}\\\">";
    o += x.text ? x.text : "";
    o += "</span></p><p><b>effective</b>: ";
    put_day(o, x.day);
    o += "</p><p><b>value</b>: ";
    if (x.kind == Val::quantity) {
      put_fixed(o, x.value, x.dec);
      o += ' ';
      o += x.unit;
    } else if (x.kind == Val::string) {
      o += x.vstring;
    }
    o += "</p><p><b>performer</b>: Central Laboratory, verified by the attending pathologist</p></div>\"},";
  }
  if (x.extension) {
    o += "\"extension\":[{\"url\":\"http://hospital.example.org/fhir/StructureDefinition/specimen-barcode\","
         "\"valueString\":\"SP";
    put_int(o, r.range(100000000, 999999999));
    o += "\"},{\"url\":\"http://hospital.example.org/fhir/StructureDefinition/analyzer\",\"valueString\":\"";
    static const std::array<const char*, 4> kAnalyzers = {"Cobas 8000", "Architect c16000", "AU5800",
                                                          "Sysmex XN-10"};
    o += r.pick(kAnalyzers);
    o += "\"}],";
  }
  if (c.lab_ids) {
    o += "\"identifier\":[{\"system\":\"http://hospital.example.org/fhir/NamingSystem/"
         "lab-result\",\"value\":\"LR";
    put_int(o, r.range(1000000000, 9999999999));
    o += "\"}],";
  }
  o += "\"status\":\"";
  o += x.status;
  o += "\",\"category\":[{\"coding\":[";
  if (!std::strcmp(x.category, "laboratory"))
    coding(o, "http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory");
  else
    coding(o, "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs");
  o += "]}],\"code\":{\"coding\":[";
  const bool lab = !std::strcmp(x.category, "laboratory");
  const bool local_first = lab && x.local && c.site >= 1;
  const bool loinc_too = !(lab && x.local && c.site == 2) || !x.local;
  if (local_first) {
    coding(o, LOCAL_LAB, x.local, x.local_display);
    if (loinc_too && x.loinc) o += ',';
  }
  if (loinc_too && x.loinc) coding(o, LOINC, x.loinc, x.loinc_display);
  o += "]";
  if (x.text) {
    o += ",\"text\":\"";
    o += x.text;
    o += '"';
  }
  o += "},\"subject\":{\"reference\":\"Patient/";
  o += c.pid;
  o += "\"},\"encounter\":{\"reference\":\"Encounter/";
  o += encounter;
  o += "\"},\"effectiveDateTime\":\"";
  const int minute = local_minute(r, c.zone);
  put_datetime(o, x.day, minute, c.zone);
  o += '"';
  if (lab) {
    o += ",\"issued\":\"";
    put_datetime(o, x.day, std::min(minute + static_cast<int>(r.range(20, 90)), 22 * 60 + 59), c.zone);
    o += '"';
  }
  if (c.lab_ids) {
    o += ",\"performer\":[{\"reference\":\"Organization/lab-";
    put_int(o, r.range(1, 4));
    o += "\",\"display\":\"Central Laboratory\"}]";
  }
  if (x.kind == Val::quantity) {
    o += ",\"valueQuantity\":";
    quantity(o, x.value, x.dec, x.unit, x.ucum);
  } else if (x.kind == Val::string) {
    o += ",\"valueString\":\"";
    o += x.vstring;
    o += '"';
  }
  if (x.interp) {
    o += ",\"interpretation\":[{\"coding\":[";
    coding(o, V3_INTERP, x.interp, interp_display(x.interp));
    o += "]}]";
  }
  if (x.has_range) {
    o += ",\"referenceRange\":[{";
    if (x.lo >= 0) {
      o += "\"low\":";
      quantity(o, x.lo, x.dec, x.unit, nullptr);
      o += ',';
    }
    o += "\"high\":";
    quantity(o, x.hi, x.dec, x.unit, nullptr);
    o += ",\"text\":\"";
    if (x.lo >= 0) {
      put_fixed(o, x.lo, x.dec);
      o += '-';
    } else {
      o += "<";
    }
    put_fixed(o, x.hi, x.dec);
    o += "\"}]";
  }
  o += "}\n";
}

const char* status_for(Rng& r) {
  const double u = r.uni();
  if (u < 0.006) return "entered-in-error";
  if (u < 0.010) return "cancelled";
  if (u < 0.020) return "amended";
  if (u < 0.025) return "preliminary";
  return "final";
}
bool usable(const char* status) {
  return std::strcmp(status, "entered-in-error") && std::strcmp(status, "cancelled");
}

// A routine lab with a value around its reference range.
void routine_lab(S& o, Ctx& c, const std::string& enc, long day, const Lab& l) {
  Rng& r = c.r;
  ObsOut x;
  x.loinc = l.loinc;
  x.loinc_display = l.display;
  x.text = l.text;
  x.local = l.local;
  x.local_display = l.local_display;
  x.day = day;
  x.status = status_for(r);
  const long span = l.hi - l.lo;
  x.value = std::max(0L, l.lo - span / 5 + r.range(0, span + 2 * (span / 5) + 1));
  x.dec = l.dec;
  x.unit = l.unit;
  x.ucum = l.ucum;
  x.interp = x.value < l.lo ? "L" : x.value > l.hi ? "H" : "N";
  x.has_range = true;
  x.lo = l.lo;
  x.hi = l.hi;
  x.narrative = c.narrative_site && r.chance(0.12);
  x.extension = r.chance(0.15);
  observation(o, c, enc, x);
}

// Creatinine in mg/dL (2160-0) or umol/L (14682-9). `mgdl100` is the value in mg/dL x 100; high = > 2.5
// mg/dL.
void creatinine(S& o, Ctx& c, const std::string& enc, long day, long mgdl100, Facts* f,
                const char* status = nullptr, int force_unit = -1) {
  Rng& r = c.r;
  ObsOut x;
  x.local = "CREA";
  x.local_display = "肌酐";
  x.text = "Creatinine";
  x.day = day;
  x.status = status ? status : status_for(r);
  const bool molar = force_unit >= 0 ? force_unit == 1 : r.chance(0.45);
  bool high;
  if (molar) {
    x.loinc = "14682-9";
    x.loinc_display = "Creatinine [Moles/volume] in Serum or Plasma";
    // umol/L x 100, rounded to 2 decimals; exactly 221.05 umol/L is 2.5 mg/dL.
    long v = (mgdl100 * 8842 + 50) / 100;
    if (mgdl100 == 250) v = 22105;
    x.value = v;
    x.dec = 2;
    if (r.chance(0.5)) x.value = (v + 50) / 100 * 100;  // whole umol/L most of the time
    if (mgdl100 == 250) x.value = 22105;
    x.ucum = "umol/L";
    static const std::array<const char*, 3> kUnits = {"umol/L", "µmol/L", "μmol/L"};
    x.unit = r.pick(kUnits);
    if (c.site == 2 && r.chance(0.5)) x.ucum = nullptr;  // local-only sites often send the unit as text only
    x.has_range = true;
    x.lo = 5300;
    x.hi = 11500;
    high = x.value > 22105;
  } else {
    x.loinc = r.chance(0.9) ? "2160-0" : "38483-4";
    x.loinc_display = x.loinc[0] == '2' ? "Creatinine [Mass/volume] in Serum or Plasma"
                                        : "Creatinine [Mass/volume] in Blood";
    x.value = mgdl100;
    x.dec = 2;
    x.ucum = "mg/dL";
    x.unit = r.chance(0.8) ? "mg/dL" : "mg/dl";
    if (c.site == 2 && r.chance(0.5)) x.ucum = nullptr;
    x.has_range = true;
    x.lo = 60;
    x.hi = 130;
    high = x.value > 250;
  }
  x.interp = x.value < x.lo ? "L" : x.value > x.hi ? "H" : "N";
  x.narrative = c.narrative_site && r.chance(0.12);
  x.extension = r.chance(0.15);
  observation(o, c, enc, x);
  if (f) f->creat.push_back({day, usable(x.status), high});
}

long normal_creat(Rng& r) {
  return r.chance(0.01) ? r.range(140, 600) : r.range(50, 125);
}

void vitals(S& o, Ctx& c, const std::string& enc, long day) {
  Rng& r = c.r;
  for (const Vital& v : kVitals) {
    if (r.chance(0.2)) continue;
    ObsOut x;
    x.category = "vital-signs";
    x.loinc = v.loinc;
    x.loinc_display = v.display;
    x.text = v.display;
    x.day = day;
    x.status = "final";
    const long span = v.hi - v.lo;
    x.value = v.lo - span / 8 + r.range(0, span + span / 4);
    x.dec = v.dec;
    x.unit = v.unit;
    x.ucum = v.ucum;
    x.narrative = c.narrative_site && r.chance(0.05);
    observation(o, c, enc, x);
  }
  if (r.chance(0.5)) {  // body temperature: used by the trial's SLEDAI-2K fever item
    ObsOut x;
    x.category = "vital-signs";
    x.loinc = "8310-5";
    x.loinc_display = "Body temperature";
    x.text = "Body temperature";
    x.day = day;
    if (r.chance(0.85)) {
      x.value = r.chance(0.05) ? r.range(381, 395) : r.range(361, 374);
      x.dec = 1;
      x.unit = "°C";
      x.ucum = "Cel";
    } else {
      x.value = r.range(970, 1003);
      x.dec = 1;
      x.unit = "°F";
      x.ucum = "[degF]";
    }
    observation(o, c, enc, x);
  }
  // Blood pressure panel with components.
  o += "{\"resourceType\":\"Observation\",\"id\":\"";
  put_uuid(o, r);
  o += "\",";
  put_meta(o, r, c.asof, "http://hl7.org/fhir/StructureDefinition/bp");
  o += "\"status\":\"final\",\"category\":[{\"coding\":[";
  coding(o, "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs");
  o += "]}],\"code\":{\"coding\":[";
  coding(o, LOINC, "85354-9", "Blood pressure panel with all children optional");
  o += "],\"text\":\"Blood pressure\"},\"subject\":{\"reference\":\"Patient/";
  o += c.pid;
  o += "\"},\"encounter\":{\"reference\":\"Encounter/";
  o += enc;
  o += "\"},\"effectiveDateTime\":\"";
  put_datetime(o, day, local_minute(r, c.zone), c.zone);
  o += "\",\"component\":[{\"code\":{\"coding\":[";
  coding(o, LOINC, "8480-6", "Systolic blood pressure");
  o += "]},\"valueQuantity\":";
  quantity(o, r.range(100, 165), 0, "mm[Hg]", "mm[Hg]");
  o += "},{\"code\":{\"coding\":[";
  coding(o, LOINC, "8462-4", "Diastolic blood pressure");
  o += "]},\"valueQuantity\":";
  quantity(o, r.range(60, 100), 0, "mm[Hg]", "mm[Hg]");
  o += "}]}\n";
}

// One outpatient or inpatient encounter's worth of routine observations.
void encounter_obs(S& o, Ctx& c, long day, Facts& f) {
  Rng& r = c.r;
  std::string enc;
  put_uuid(enc, r);
  vitals(o, c, enc, day);
  if (r.chance(0.6)) {
    for (const Lab& l : kBmp) routine_lab(o, c, enc, day, l);
    creatinine(o, c, enc, day, normal_creat(r), &f);
  }
  if (r.chance(0.6))
    for (const Lab& l : kCbc) routine_lab(o, c, enc, day, l);
  if (r.chance(0.3))
    for (const Lab& l : kLipid) routine_lab(o, c, enc, day, l);
  if (r.chance(0.3))
    for (const Lab& l : kLiver) routine_lab(o, c, enc, day, l);
  for (const Lab& l : kMisc)
    if (r.chance(0.12)) routine_lab(o, c, enc, day, l);
}

// Serology.
void dsdna(S& o, Ctx& c, const std::string& enc, long day, bool positive, Facts& f,
           const char* status = nullptr) {
  Rng& r = c.r;
  ObsOut x;
  x.loinc = "5130-0";
  x.loinc_display = "DNA double strand Ab [Units/volume] in Serum";
  x.text = "Anti-dsDNA";
  x.local = "DSDNA";
  x.local_display = "抗双链DNA抗体";
  x.day = day;
  x.status = status ? status : status_for(r);
  x.value = positive ? r.range(30, 400) : r.range(1, 24);
  x.dec = 0;
  x.unit = "IU/mL";
  x.ucum = "[IU]/mL";
  const bool posneg = r.chance(0.25);
  x.interp = positive ? (posneg ? "POS" : "H") : (posneg ? "NEG" : "N");
  x.has_range = true;
  x.lo = -1;
  x.hi = 25;
  x.narrative = c.narrative_site && r.chance(0.12);
  x.extension = r.chance(0.15);
  observation(o, c, enc, x);
  f.dsdna.push_back({day, usable(x.status), positive});
}

void ana(S& o, Ctx& c, const std::string& enc, long day, int titre_class, Facts& f,
         const char* status = nullptr) {
  // titre_class: 0 negative (<1:40), 1 1:40, 2 1:80 .. 6 1:1280, 7 >1:1280
  Rng& r = c.r;
  ObsOut x;
  x.loinc = "5048-4";
  x.loinc_display = "Nuclear Ab [Titer] in Serum by Immunofluorescence";
  x.text = "ANA titre";
  x.local = "ANA-IF";
  x.local_display = "抗核抗体滴度";
  x.day = day;
  x.status = status ? status : status_for(r);
  x.kind = Val::string;
  static const char* kTitres[] = {"<1:40", "1:40", "1:80", "1:160", "1:320", "1:640", "1:1280", ">1:1280"};
  static const char* kPatterned[] = {
      "<1:40",          "1:40 speckled",     "1:80 speckled",      "1:160 homogeneous",
      "1:320 speckled", "1:640 homogeneous", "1:1280 homogeneous", ">1:1280"};
  x.vstring = r.chance(0.2) ? kPatterned[titre_class] : kTitres[titre_class];
  x.interp = titre_class >= 2 ? "POS" : nullptr;
  x.narrative = c.narrative_site && r.chance(0.12);
  x.extension = r.chance(0.15);
  observation(o, c, enc, x);
  f.ana.push_back({day, usable(x.status), titre_class >= 2});
}

void simple_lab(S& o, Ctx& c, const std::string& enc, long day, const char* loinc, const char* display,
                const char* text, const char* local, const char* local_display, long v, int dec,
                const char* unit, const char* ucum, long lo, long hi, const char* status = nullptr) {
  Rng& r = c.r;
  ObsOut x;
  x.loinc = loinc;
  x.loinc_display = display;
  x.text = text;
  x.local = local;
  x.local_display = local_display;
  x.day = day;
  x.status = status ? status : status_for(r);
  x.value = v;
  x.dec = dec;
  x.unit = unit;
  x.ucum = ucum;
  if (lo >= 0 || hi >= 0) {
    x.interp = v < lo ? "L" : v > hi ? "H" : "N";
    x.has_range = true;
    x.lo = lo;
    x.hi = hi;
  }
  x.narrative = c.narrative_site && r.chance(0.12);
  x.extension = r.chance(0.15);
  observation(o, c, enc, x);
}

// IgA: `mgdl10` is mg/dL x 10; low = < 10 mg/dL. Written in g/L (x 1000 scale) or mg/dL.
void iga(S& o, Ctx& c, const std::string& enc, long day, long mgdl10, Facts& f,
         const char* status = nullptr) {
  Rng& r = c.r;
  const char* st = status ? status : status_for(r);
  if (r.chance(0.5)) {  // g/L: mg/dL / 100; mgdl10 / 1000 g/L, written with 3 decimals
    simple_lab(o, c, enc, day, "2458-8", "IgA [Mass/volume] in Serum or Plasma", "IgA", "IGA", "免疫球蛋白A",
               mgdl10, 3, "g/L", "g/L", 700, 4000, st);
  } else {
    simple_lab(o, c, enc, day, "2458-8", "IgA [Mass/volume] in Serum or Plasma", "IgA", "IGA", "免疫球蛋白A",
               mgdl10, 1, r.chance(0.8) ? "mg/dL" : "mg/dl", "mg/dL", 700, 4000, st);
  }
  f.iga.push_back({day, usable(st), mgdl10 < 100});
}

// A day `lo`..`hi` days before as-of, never within a day of the serology (365) or creatinine (56) window
// edges.
long day_back(Rng& r, long asof, long lo, long hi) {
  for (;;) {
    long back = r.range(lo, hi);
    if ((back >= 55 && back <= 57) || (back >= 364 && back <= 366)) continue;
    return asof - back;
  }
}

struct Cond {
  const char* snomed;
  const char* snomed_display;
  const char* icd;
  const char* icd_display;
  const char* text;
};
const Cond kCommon[] = {
    {"38341003", "Hypertensive disorder, systemic arterial (disorder)", "I10",
     "Essential (primary) hypertension", "Hypertension"},
    {"44054006", "Diabetes mellitus type 2 (disorder)", "E11.9",
     "Type 2 diabetes mellitus without complications", "Type 2 diabetes"},
    {"55822004", "Hyperlipidemia (disorder)", "E78.5", "Hyperlipidemia, unspecified", "Hyperlipidemia"},
    {"195967001", "Asthma (disorder)", "J45.909", "Unspecified asthma, uncomplicated", "Asthma"},
    {"35489007", "Depressive disorder (disorder)", "F32.A", "Depression, unspecified", "Depression"},
    {"40055000", "Chronic sinusitis (disorder)", "J32.9", "Chronic sinusitis, unspecified",
     "Chronic sinusitis"},
    {"10509002", "Acute bronchitis (disorder)", "J20.9", "Acute bronchitis, unspecified", "Acute bronchitis"},
    {"271737000", "Anemia (disorder)", "D64.9", "Anemia, unspecified", "Anaemia"},
    {"235595009", "Gastroesophageal reflux disease (disorder)", "K21.9", "Gastro-esophageal reflux disease",
     "GERD"},
    {"239873007", "Osteoarthritis of knee (disorder)", "M17.9", "Osteoarthritis of knee, unspecified",
     "Osteoarthritis of knee"},
    {"431855005", "Chronic kidney disease stage 1 (disorder)", "N18.1", "Chronic kidney disease, stage 1",
     "CKD stage 1"},
    {"68566005", "Urinary tract infectious disease (disorder)", "N39.0",
     "Urinary tract infection, site not specified", "UTI"},
    {"84757009", "Epilepsy (disorder)", "G40.909", "Epilepsy, unspecified", "Epilepsy"},
    {"254837009", "Malignant neoplasm of breast (disorder)", "C50.919", "Malignant neoplasm of breast",
     "Breast cancer"},
    {"69896004", "Rheumatoid arthritis (disorder)", "M06.9", "Rheumatoid arthritis, unspecified",
     "Rheumatoid arthritis"},
};

void condition(S& o, Ctx& c, const char* snomed, const char* snomed_display, const char* icd,
               const char* icd_display, const char* text, long onset, const char* ver, bool resolved,
               const char* local = nullptr, const char* local_display = nullptr) {
  Rng& r = c.r;
  o += "{\"resourceType\":\"Condition\",\"id\":\"";
  put_uuid(o, r);
  o += "\",";
  put_meta(o, r, c.asof,
           "http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns");
  if (c.narrative_site && r.chance(0.1)) {
    o +=
        "\"text\":{\"status\":\"generated\",\"div\":\"<div xmlns=\\\"http://www.w3.org/1999/xhtml\\\"><p><b>";
    o += text;
    o += "</b></p><p>Onset ";
    put_day(o, onset);
    o += ". Recorded by the treating physician during an outpatient visit.</p></div>\"},";
  }
  o += "\"clinicalStatus\":{\"coding\":[";
  coding(o, "http://terminology.hl7.org/CodeSystem/condition-clinical", resolved ? "resolved" : "active",
         nullptr);
  o += "]},\"verificationStatus\":{\"coding\":[";
  coding(o, "http://terminology.hl7.org/CodeSystem/condition-ver-status", ver, nullptr);
  o += "]},\"category\":[{\"coding\":[";
  coding(o, "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
         "Problem List Item");
  o += "]}],\"code\":{\"coding\":[";
  bool first = true;
  if (local) {
    coding(o, LOCAL_DX, local, local_display);
    first = false;
  }
  if (snomed) {
    if (!first) o += ',';
    coding(o, SCT, snomed, snomed_display);
    first = false;
  }
  if (icd) {
    if (!first) o += ',';
    coding(o, ICD10CM, icd, icd_display);
  }
  o += "],\"text\":\"";
  o += text;
  o += "\"},\"subject\":{\"reference\":\"Patient/";
  o += c.pid;
  o += "\"},\"onsetDateTime\":\"";
  put_datetime(o, onset, local_minute(r, c.zone), c.zone);
  o += '"';
  if (resolved) {
    o += ",\"abatementDateTime\":\"";
    put_datetime(o, std::min(onset + r.range(10, 400), c.asof - 1), local_minute(r, c.zone), c.zone);
    o += '"';
  }
  o += ",\"recordedDate\":\"";
  put_datetime(o, std::min(onset + r.range(0, 30), c.asof), local_minute(r, c.zone), c.zone);
  o += "\"}\n";
}

struct Med {
  const char* code;
  const char* display;
  long mg;
  int per_day;
};
const Med kCommonMeds[] = {
    {"860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet", 500, 2},
    {"314076", "lisinopril 10 MG Oral Tablet", 10, 1},
    {"617312", "atorvastatin 40 MG Oral Tablet", 40, 1},
    {"197361", "amlodipine 5 MG Oral Tablet", 5, 1},
    {"313782", "acetaminophen 325 MG Oral Tablet", 650, 3},
    {"310965", "ibuprofen 200 MG Oral Tablet", 400, 3},
};
const Med kSleMeds[] = {
    {"5521", "hydroxychloroquine", 200, 2},
    {"8640", "prednisone", 10, 1},
    {"68149", "mycophenolate mofetil", 1000, 2},
    {"1256", "azathioprine", 50, 2},
};

void med_request(S& o, Ctx& c, const Med& m, long start, bool active, long mg_override = 0) {
  Rng& r = c.r;
  o += "{\"resourceType\":\"MedicationRequest\",\"id\":\"";
  put_uuid(o, r);
  o += "\",";
  put_meta(o, r, c.asof, nullptr);
  o += "\"status\":\"";
  o += active ? "active" : "completed";
  o += "\",\"intent\":\"order\",\"medicationCodeableConcept\":{\"coding\":[";
  coding(o, RXNORM, m.code, m.display);
  o += "],\"text\":\"";
  o += m.display;
  o += "\"},\"subject\":{\"reference\":\"Patient/";
  o += c.pid;
  o += "\"},\"authoredOn\":\"";
  put_day(o, start);
  o += "\",\"requester\":{\"reference\":\"Practitioner/";
  put_uuid(o, r);
  o += "\"},\"dosageInstruction\":[{\"sequence\":1,\"text\":\"";
  const long mg = mg_override ? mg_override : m.mg;
  put_int(o, mg);
  o += " mg ";
  o += m.per_day == 1 ? "once daily" : m.per_day == 2 ? "twice daily" : "three times daily";
  o += "\",\"timing\":{\"repeat\":{\"boundsPeriod\":{\"start\":\"";
  put_day(o, start);
  o += '"';
  if (!active) {
    o += ",\"end\":\"";
    put_day(o, std::min(start + r.range(7, 180), c.asof - 1));
    o += '"';
  }
  o += "},\"frequency\":";
  put_int(o, m.per_day);
  o += ",\"period\":1,\"periodUnit\":\"d\"}},\"route\":{\"coding\":[";
  coding(o, SCT, "26643006", "Oral route");
  o += "]},\"doseAndRate\":[{\"doseQuantity\":";
  quantity(o, mg, 0, "mg", "mg");
  o += "}]}]}\n";
}

void procedure(S& o, Ctx& c, const char* code, const char* display, long day) {
  Rng& r = c.r;
  o += "{\"resourceType\":\"Procedure\",\"id\":\"";
  put_uuid(o, r);
  o += "\",";
  put_meta(o, r, c.asof, nullptr);
  o += "\"status\":\"completed\",\"code\":{\"coding\":[";
  coding(o, SCT, code, display);
  o += "],\"text\":\"";
  o += display;
  o += "\"},\"subject\":{\"reference\":\"Patient/";
  o += c.pid;
  o += "\"},\"performedPeriod\":{\"start\":\"";
  put_datetime(o, day, local_minute(r, c.zone), c.zone);
  o += "\",\"end\":\"";
  put_datetime(o, day, 23 * 60, c.zone);
  o += "\"}}\n";
}

const std::array<const char*, 16> kFamily = {"Zhang",  "Wang",     "Li",      "Smith", "Garcia", "Müller",
                                             "Nguyen", "Kowalski", "Johnson", "Chen",  "Silva",  "O'Brien",
                                             "Dubois", "Rossi",    "Kim",     "Haddad"};
const std::array<const char*, 16> kGiven = {"Wei",   "Fang",  "Emma",  "Olivia", "Liam", "Noah",
                                            "Sofia", "Mia",   "Lucas", "Ana",    "Yuki", "Zoë",
                                            "Mateo", "Aisha", "Jonas", "Li"};
const std::array<const char*, 8> kCity = {"Springfield", "Riverton",   "Chengdu", "Fairview",
                                          "Lakewood",    "Georgetown", "Salem",   "Madison"};

void patient(S& o, Ctx& c, const Facts& f, bool female, int deceased_kind) {
  Rng& r = c.r;
  o += "{\"resourceType\":\"Patient\",\"id\":\"";
  o += c.pid;
  o += "\",";
  put_meta(o, r, c.asof, "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient");
  const char* family = r.pick(kFamily);
  const char* given = r.pick(kGiven);
  if (c.narrative_site && r.chance(0.3)) {
    o += "\"text\":{\"status\":\"generated\",\"div\":\"<div "
         "xmlns=\\\"http://www.w3.org/1999/xhtml\\\">Generated by "
         "the hospital EHR. Version identifier: v3.4.1-2026 . Person seed: ";
    put_int(o, r.range(1000000, 9999999));
    o += "  Population seed: 1700000000</div>\"},";
  }
  o += "\"extension\":[{\"url\":\"http://hl7.org/fhir/us/core/StructureDefinition/"
       "us-core-race\",\"extension\":[{"
       "\"url\":\"ombCategory\",\"valueCoding\":";
  static const std::array<const char*, 4> kRace = {
      "2106-3\",\"display\":\"White", "2028-9\",\"display\":\"Asian",
      "2054-5\",\"display\":\"Black or African American", "2131-1\",\"display\":\"Other Race"};
  o += "{\"system\":\"urn:oid:2.16.840.1.113883.6.238\",\"code\":\"";
  o += r.pick(kRace);
  o += "\"}},{\"url\":\"text\",\"valueString\":\"not "
       "stated\"}]},{\"url\":\"http://hl7.org/fhir/StructureDefinition/"
       "patient-mothersMaidenName\",\"valueString\":\"";
  o += r.pick(kFamily);
  o += "\"},{\"url\":\"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex\",\"valueCode\":\"";
  o += female ? "F" : "M";
  o += "\"}],\"identifier\":[{\"type\":{\"coding\":[";
  coding(o, "http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical Record Number");
  o += "]},\"system\":\"http://hospital.example.org/fhir/sid/mrn\",\"value\":\"MRN";
  put_int(o, r.range(10000000, 99999999));
  o += "\"}],\"active\":true,\"name\":[{\"use\":\"official\",\"family\":\"";
  o += family;
  o += "\",\"given\":[\"";
  o += given;
  o += "\"]}],\"telecom\":[{\"system\":\"phone\",\"value\":\"555-";
  put_int(o, r.range(100, 999));
  o += '-';
  put_int(o, r.range(1000, 9999));
  o += "\",\"use\":\"home\"}],\"gender\":\"";
  o += female ? "female" : "male";
  o += "\",\"birthDate\":\"";
  put_day(o, f.birth);
  o += '"';
  if (deceased_kind == 1) {
    o += ",\"deceasedDateTime\":\"";
    put_datetime(o, c.asof - r.range(1, 1500), local_minute(r, c.zone), c.zone);
    o += '"';
  } else if (deceased_kind == 2) {
    o += ",\"deceasedBoolean\":true";
  } else if (deceased_kind == 3) {  // death recorded after the as-of date: alive on the as-of date
    o += ",\"deceasedDateTime\":\"";
    put_datetime(o, c.asof + 1, local_minute(r, c.zone), c.zone);
    o += '"';
  } else if (deceased_kind == 4) {
    o += ",\"deceasedBoolean\":false";
  }
  o += ",\"address\":[{\"line\":[\"";
  put_int(o, r.range(1, 999));
  o += " Main Street\"],\"city\":\"";
  o += r.pick(kCity);
  o += "\",\"postalCode\":\"";
  put_int(o, r.range(10000, 99999));
  o += "\",\"country\":\"US\"}],\"maritalStatus\":{\"coding\":[";
  coding(o, "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", r.chance(0.5) ? "M" : "S", nullptr);
  o += "]},\"communication\":[{\"language\":{\"coding\":[";
  coding(o, "urn:ietf:bcp:47", r.chance(0.7) ? "en-US" : "zh-CN", nullptr);
  o += "]}}]}\n";
}

// ---- one patient
// --------------------------------------------------------------------------------------------------
struct Bufs {
  S pat, cond, obs, med, proc;
};

struct Counters {
  long patients = 0, sle = 0, selected = 0;
  long obs = 0, cond = 0, med = 0, proc = 0;
};

void one_patient(std::uint64_t seed, long index, long asof, Bufs& b, Facts& f) {
  Rng r(mix(seed, static_cast<std::uint64_t>(index)));
  Ctx c{r, asof, {}, 0, 0, false};
  put_uuid(c.pid, r);
  f = Facts{};
  f.id = c.pid;
  c.zone = r.chance(0.6) ? 0 : static_cast<int>(r.range(1, 3));
  const double su = r.uni();
  c.site = su < 0.70 ? 0 : su < 0.95 ? 1 : 2;
  c.narrative_site = r.chance(0.5);
  c.us_core = r.chance(0.5);
  c.lab_ids = r.chance(0.5);
  const bool female = r.chance(0.55);

  // 0: no lupus; 1: SLE; 2: SLE ruled out (refuted diagnosis); 3: discoid / unspecified lupus (low
  // confidence); 4: drug-induced lupus (M32.0, excluded by the SLE concept).
  int lupus = 0;
  const double lu = r.uni();
  if (lu < 0.020)
    lupus = 1;
  else if (lu < 0.022)
    lupus = 2;
  else if (lu < 0.0235)
    lupus = 3;
  else if (lu < 0.024)
    lupus = 4;

  // Age: a hospital population; SLE patients mostly 18-65 with some edge cases on the as-of date.
  const Ymd a = civil_from_days(asof);
  if (lupus == 1 && r.chance(0.08)) {
    static const int kEdgeYears[] = {18, 18, 66, 66};
    const int k = static_cast<int>(r.range(0, 3));
    long b0 = days_from_civil(a.y - kEdgeYears[k], a.m, a.d);
    f.birth = (k == 1 || k == 3) ? b0 + 1 : b0;  // 18 today (in), 17 (out), 66 today (out), 65 (in)
  } else {
    const int years = lupus == 1 ? static_cast<int>(r.range(12, 78)) : static_cast<int>(r.range(0, 95));
    f.birth = asof - years * 365L - r.range(0, 364);
  }
  int deceased_kind = 0;
  const double du = r.uni();
  if (du < 0.012)
    deceased_kind = 1;
  else if (du < 0.015)
    deceased_kind = 2;
  else if (du < 0.016)
    deceased_kind = 3;
  else if (du < 0.2)
    deceased_kind = 4;
  f.deceased = deceased_kind == 1 || deceased_kind == 2;
  patient(b.pat, c, f, female, deceased_kind);

  // Routine encounters over the last ten years, most in the last five.
  int n_enc = 1;
  while (n_enc < 12 && r.chance(0.52)) ++n_enc;
  for (int e = 0; e < n_enc; ++e) {
    const long day = r.chance(0.8) ? day_back(r, asof, 1, 5 * 365) : day_back(r, asof, 5 * 365, 10 * 365);
    encounter_obs(b.obs, c, day, f);
  }
  if (r.chance(0.003)) {  // results dated after the as-of date (the export ran later): ignored by every query
    std::string enc;
    put_uuid(enc, r);
    creatinine(b.obs, c, enc, asof + 1, r.range(260, 400), &f, "final");
  }

  // Conditions.
  int n_cond = static_cast<int>(r.range(0, 4));
  for (int k = 0; k < n_cond; ++k) {
    // The last three (epilepsy, breast cancer, rheumatoid arthritis) are rarer: about 0.5% of records each.
    constexpr std::size_t kAll = sizeof kCommon / sizeof kCommon[0];
    std::size_t ci = r.next() % kAll;
    if (ci >= kAll - 3 && !r.chance(0.08)) ci = r.next() % (kAll - 3);
    const Cond& cd = kCommon[ci];
    const double cu = r.uni();
    condition(b.cond, c, cu < 0.8 || !cd.icd ? cd.snomed : nullptr, cd.snomed_display,
              cu > 0.4 ? cd.icd : nullptr, cd.icd_display, cd.text, day_back(r, asof, 30, 15 * 365),
              "confirmed", r.chance(0.2));
  }

  // Medications and procedures.
  int n_med = static_cast<int>(r.range(0, 3));
  for (int k = 0; k < n_med; ++k) {
    med_request(b.med, c, kCommonMeds[r.next() % (sizeof kCommonMeds / sizeof kCommonMeds[0])],
                day_back(r, asof, 10, 4 * 365), r.chance(0.5));
  }
  if (r.chance(0.35)) {
    static const std::array<const char*, 4> kProcCode = {"73761001", "80146002", "430193006", "274804006"};
    static const std::array<const char*, 4> kProcName = {
        "Colonoscopy", "Appendectomy", "Medication reconciliation", "Evaluation of uterine fundal height"};
    const std::size_t k = r.next() % 4;
    procedure(b.proc, c, kProcCode[k], kProcName[k], day_back(r, asof, 10, 8 * 365));
  }

  // Population screening serology (ANA ordered for joint pain, fatigue...).
  if (lupus == 0 && r.chance(0.012)) {
    std::string enc;
    put_uuid(enc, r);
    const long day = day_back(r, asof, 1, 4 * 365);
    ana(b.obs, c, enc, day,
        r.chance(0.85) ? static_cast<int>(r.range(0, 1)) : static_cast<int>(r.range(2, 3)), f);
    if (r.chance(0.25)) {
      dsdna(b.obs, c, enc, day, false, f);
    }
  }

  if (lupus >= 2) {
    const long onset = day_back(r, asof, 200, 12 * 365);
    if (lupus == 2) {
      condition(b.cond, c, "55464009", "Systemic lupus erythematosus (disorder)", nullptr, nullptr,
                "Systemic lupus erythematosus", onset, r.chance(0.8) ? "refuted" : "entered-in-error", false);
    } else if (lupus == 3) {
      condition(b.cond, c, "200936003", "Lupus erythematosus (disorder)", "L93.0",
                "Discoid lupus erythematosus", "Discoid lupus erythematosus", onset, "confirmed", false);
    } else {
      condition(b.cond, c, nullptr, nullptr, "M32.0", "Drug-induced systemic lupus erythematosus",
                "Drug-induced lupus", onset, "confirmed", false);
    }
    std::string enc;
    put_uuid(enc, r);
    const long day = day_back(r, asof, 1, 700);
    ana(b.obs, c, enc, day, static_cast<int>(r.range(0, lupus == 2 ? 1 : 4)), f);
    dsdna(b.obs, c, enc, day + 0, false, f);
  }

  if (lupus == 1) {
    // Diagnosis: SNOMED, ICD-10-CM M32.1x, or local code + SNOMED; sometimes an extra lupus nephritis record.
    const long onset = day_back(r, asof, 200, 15 * 365);
    const double cu = r.uni();
    bool tentative = false;
    if (cu < 0.55) {
      condition(b.cond, c, "55464009", "Systemic lupus erythematosus (disorder)", nullptr, nullptr,
                "Systemic lupus erythematosus", onset, "confirmed", false);
    } else if (cu < 0.80) {
      condition(b.cond, c, nullptr, nullptr, r.chance(0.6) ? "M32.14" : "M32.19",
                "Systemic lupus erythematosus with organ or system involvement", "SLE with organ involvement",
                onset, "confirmed", false);
    } else if (cu < 0.95) {
      condition(b.cond, c, "55464009", "Systemic lupus erythematosus (disorder)", "M32.14",
                "Glomerular disease in systemic lupus erythematosus", "Lupus nephritis", onset, "confirmed",
                false, "SLE", "系统性红斑狼疮");
    } else {
      // Recorded as a possibility: the tool leaves I3 to a human, and the simplified query does not count it.
      condition(b.cond, c, "55464009", "Systemic lupus erythematosus (disorder)", nullptr, nullptr,
                "Systemic lupus erythematosus", onset, r.chance(0.5) ? "provisional" : "unconfirmed", false);
      tentative = true;
    }
    f.sle = !tentative;
    if (r.chance(0.05)) {  // an earlier record entered in error does not undo the confirmed one
      condition(b.cond, c, "55464009", "Systemic lupus erythematosus (disorder)", nullptr, nullptr,
                "Systemic lupus erythematosus", onset, "entered-in-error", false);
    }

    // Rheumatology visits over three years; recent ones (within a year) for most patients.
    const bool active = r.chance(0.6);
    int visits = static_cast<int>(r.range(1, 5));
    std::vector<long> days;
    for (int v = 0; v < visits; ++v) {
      long d = (v == 0 && r.chance(0.65)) ? day_back(r, asof, 1, 360) : day_back(r, asof, 1, 3 * 365);
      if (std::find(days.begin(), days.end(), d) == days.end()) days.push_back(d);
    }
    std::sort(days.begin(), days.end());
    for (std::size_t v = 0; v < days.size(); ++v) {
      const long day = days[v];
      std::string enc;
      put_uuid(enc, r);
      const bool latest = v + 1 == days.size();
      if (r.chance(0.8)) {
        dsdna(b.obs, c, enc, day, latest ? (active ? r.chance(0.85) : r.chance(0.2)) : r.chance(0.5), f);
      }
      if (r.chance(0.5)) {
        ana(b.obs, c, enc, day,
            latest && active ? static_cast<int>(r.range(2, 7)) : static_cast<int>(r.range(0, 7)), f);
      }
      if (r.chance(0.8)) {  // complement, g/L or mg/dL
        const bool gl = r.chance(0.5);
        const long c3 = r.range(40, 170);  // mg/dL
        const long c4 = r.range(4, 45);
        if (gl) {
          simple_lab(b.obs, c, enc, day, "4485-9", "Complement C3 [Mass/volume] in Serum or Plasma", "C3",
                     "C3", "补体C3", c3, 2, "g/L", "g/L", 90, 180);
          simple_lab(b.obs, c, enc, day, "4498-2", "Complement C4 [Mass/volume] in Serum or Plasma", "C4",
                     "C4", "补体C4", c4, 2, "g/L", "g/L", 10, 40);
        } else {
          simple_lab(b.obs, c, enc, day, "4485-9", "Complement C3 [Mass/volume] in Serum or Plasma", "C3",
                     "C3", "补体C3", c3, 0, "mg/dL", "mg/dL", 90, 180);
          simple_lab(b.obs, c, enc, day, "4498-2", "Complement C4 [Mass/volume] in Serum or Plasma", "C4",
                     "C4", "补体C4", c4, 0, "mg/dL", "mg/dL", 10, 40);
        }
      }
      if (r.chance(0.5)) {  // 24 h urine protein, g/24h or mg/24h, never above 6 g/24h
        const long g100 = r.range(5, 550);
        if (r.chance(0.5))
          simple_lab(b.obs, c, enc, day, "2889-4", "Protein [Mass/time] in 24 hour Urine",
                     "Urine protein 24h", "UTP24", "24小时尿蛋白定量", g100, 2, "g/24h", "g/(24.h)", 0, 15);
        else
          simple_lab(b.obs, c, enc, day, "2889-4", "Protein [Mass/time] in 24 hour Urine",
                     "Urine protein 24h", "UTP24", "24小时尿蛋白定量", g100 * 10, 0, "mg/24h", "mg/(24.h)", 0,
                     150);
      }
      if (r.chance(0.9)) {
        creatinine(b.obs, c, enc, day, normal_creat(r), &f);
      }
      if (r.chance(0.9)) {
        for (const Lab& l : kCbc) {
          routine_lab(b.obs, c, enc, day, l);
        }
      }
    }
    // Scenarios around the exclusions (dates kept away from window edges).
    std::string enc;
    put_uuid(enc, r);
    const double xu = r.uni();
    if (xu < 0.08) {  // creatinine > 2.5 mg/dL within 8 weeks
      creatinine(b.obs, c, enc, day_back(r, asof, 2, 54), r.range(251, 480), &f);
    } else if (xu < 0.11) {  // exactly 2.5 mg/dL (221.05 umol/L): not above
      creatinine(b.obs, c, enc, day_back(r, asof, 2, 54), 250, &f, "final", static_cast<int>(r.range(0, 1)));
    } else if (xu < 0.13) {  // high but entered in error
      creatinine(b.obs, c, enc, day_back(r, asof, 2, 54), r.range(300, 480), &f, "entered-in-error");
    } else if (xu < 0.18) {  // high but before the window
      creatinine(b.obs, c, enc, day_back(r, asof, 60, 300), r.range(300, 480), &f, "final");
    }
    if (r.chance(0.4)) {  // IgA
      const double iu = r.uni();
      const long d1 = day_back(r, asof, 200, 900), d2 = day_back(r, asof, 2, 190);
      if (iu < 0.10) {  // latest low
        iga(b.obs, c, enc, d1, r.range(700, 3000), f, "final");
        iga(b.obs, c, enc, d2, r.range(10, 95), f, "final");
      } else if (iu < 0.15) {  // older low, latest normal
        iga(b.obs, c, enc, d1, r.range(10, 95), f, "final");
        iga(b.obs, c, enc, d2, r.range(700, 3000), f, "final");
      } else if (iu < 0.18) {  // exactly 10 mg/dL (0.1 g/L): not below
        iga(b.obs, c, enc, d2, 100, f, "final");
      } else if (iu < 0.20) {  // low, entered in error
        iga(b.obs, c, enc, d2, r.range(10, 95), f, "entered-in-error");
      } else {
        iga(b.obs, c, enc, d2, r.range(700, 3000), f);
      }
    }
    // Therapy: hydroxychloroquine, prednisone <= 20 mg, an immunosuppressant.
    med_request(b.med, c, kSleMeds[0], day_back(r, asof, 100, 2000), r.chance(0.8));
    if (r.chance(0.7))
      med_request(b.med, c, kSleMeds[1], day_back(r, asof, 100, 1000), true, r.range(1, 4) * 5);
    if (r.chance(0.6))
      med_request(b.med, c, kSleMeds[2 + r.next() % 2], day_back(r, asof, 100, 1500), r.chance(0.8));
    if (r.chance(0.2)) procedure(b.proc, c, "9911007", "Biopsy of kidney", day_back(r, asof, 60, 3000));
  }
}

bool write_all(std::FILE* f, const std::string& s) {
  return std::fwrite(s.data(), 1, s.size(), f) == s.size();
}

// Writes the lines of `buf` in a shuffled order: a Bulk export in database order interleaves patients rather
// than grouping them (here: within blocks of 1,000 patients).
bool write_shuffled(std::FILE* f, const std::string& buf, Rng& r, long& count) {
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (std::size_t p = 0; p < buf.size();) {
    std::size_t nl = buf.find('\n', p);
    spans.emplace_back(p, nl + 1);
    p = nl + 1;
  }
  for (std::size_t i = spans.size(); i > 1; --i) std::swap(spans[i - 1], spans[r.next() % i]);
  std::string out;
  out.reserve(buf.size());
  for (auto [a, b] : spans) out.append(buf, a, b - a);
  count += static_cast<long>(spans.size());
  return write_all(f, out);
}

long count_lines(const std::string& s) {
  return static_cast<long>(std::count(s.begin(), s.end(), '\n'));
}

int usage() {
  std::fprintf(stderr, "usage: gen_ndjson --patients N [--seed S] [--as-of YYYY-MM-DD] --out DIR\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  long n = -1;
  std::uint64_t seed = 20261126;
  std::string out, asof_s = "2026-11-26";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (i + 1 >= argc) return usage();
    if (a == "--patients")
      n = std::atol(argv[++i]);
    else if (a == "--seed")
      seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--as-of")
      asof_s = argv[++i];
    else if (a == "--out")
      out = argv[++i];
    else
      return usage();
  }
  if (n < 0 || out.empty()) return usage();
  int y, m, d;
  if (std::sscanf(asof_s.c_str(), "%d-%d-%d", &y, &m, &d) != 3) return usage();
  const long asof = days_from_civil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));

  const char* names[] = {"Patient.ndjson", "Condition.ndjson", "Observation.ndjson",
                         "MedicationRequest.ndjson", "Procedure.ndjson"};
  std::FILE* files[5];
  for (int i = 0; i < 5; ++i) {
    std::string p = out + "/" + names[i];
    files[i] = std::fopen(p.c_str(), "wb");
    if (!files[i]) {
      std::fprintf(stderr, "gen_ndjson: cannot write %s: %s\n", p.c_str(), std::strerror(errno));
      return 1;
    }
    std::setvbuf(files[i], nullptr, _IOFBF, 1 << 20);
  }
  std::vector<std::string> expected;
  Counters cnt;
  constexpr long kBlock = 1000;
  Bufs b;
  Facts f;
  bool ok = true;
  for (long start = 0; start < n && ok; start += kBlock) {
    b.pat.clear(), b.cond.clear(), b.obs.clear(), b.med.clear(), b.proc.clear();
    const long end = std::min(n, start + kBlock);
    for (long i = start; i < end; ++i) {
      one_patient(seed, i, asof, b, f);
      ++cnt.patients;
      if (f.sle) ++cnt.sle;
      if (selected(f, asof)) expected.push_back(f.id);
    }
    Rng br(mix(seed ^ 0x5bd1e995ULL, static_cast<std::uint64_t>(start)));
    ok = ok && write_all(files[0], b.pat);
    ok = ok && write_shuffled(files[1], b.cond, br, cnt.cond);
    ok = ok && write_shuffled(files[2], b.obs, br, cnt.obs);
    ok = ok && write_all(files[3], b.med);
    ok = ok && write_all(files[4], b.proc);
    cnt.med += count_lines(b.med);
    cnt.proc += count_lines(b.proc);
  }
  for (auto* fp : files) ok = (std::fclose(fp) == 0) && ok;
  if (!ok) {
    std::fprintf(stderr, "gen_ndjson: write error\n");
    return 1;
  }
  std::sort(expected.begin(), expected.end());
  cnt.selected = static_cast<long>(expected.size());
  {
    std::string p = out + "/expected-simplified.txt";
    std::FILE* e = std::fopen(p.c_str(), "wb");
    if (!e) return 1;
    for (const auto& id : expected) std::fprintf(e, "%s\n", id.c_str());
    std::fclose(e);
  }
  {
    std::string p = out + "/gen-info.txt";
    std::FILE* e = std::fopen(p.c_str(), "wb");
    if (!e) return 1;
    std::fprintf(
        e,
        "patients %ld\nseed %llu\nas_of %s\nsle_patients %ld\nselected %ld\nPatient %ld\nCondition %ld\n"
        "Observation %ld\nMedicationRequest %ld\nProcedure %ld\nresources %ld\n",
        cnt.patients, static_cast<unsigned long long>(seed), asof_s.c_str(), cnt.sle, cnt.selected,
        cnt.patients, cnt.cond, cnt.obs, cnt.med, cnt.proc,
        cnt.patients + cnt.cond + cnt.obs + cnt.med + cnt.proc);
    std::fclose(e);
  }
  return 0;
}
