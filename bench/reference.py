#!/usr/bin/env python3
"""Plain-Python reference of the simplified cohort query of bench/README.md ("the simplified query").

    python3 bench/reference.py --source DIR [--as-of 2026-11-26] [--ids-out FILE]

Reads DIR/Patient.ndjson, Condition.ndjson and Observation.ndjson with json.loads on every line (one thread,
standard library only), prints "resources N", "selected N" and "sha256 HEX" (of the sorted ids, one per line with a
trailing newline), and writes the sorted ids to --ids-out. This is the plain-Python comparator of the benchmark and
the executable form of the query's definition: read it next to the README.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import sys

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
LOCAL_LAB = "http://hospital.example.org/fhir/CodeSystem/lab-test"

CONCEPTS = {
    (LOINC, "5130-0"): "dsdna", (LOCAL_LAB, "DSDNA"): "dsdna",
    (LOINC, "5048-4"): "ana", (LOCAL_LAB, "ANA-IF"): "ana",
    (LOINC, "2160-0"): "creat", (LOINC, "14682-9"): "creat", (LOINC, "38483-4"): "creat", (LOCAL_LAB, "CREA"): "creat",
    (LOINC, "2458-8"): "iga", (LOCAL_LAB, "IGA"): "iga",
}
UNIT_ALIASES = {"umol/L": "umol/L", "µmol/L": "umol/L", "μmol/L": "umol/L", "umol/l": "umol/L",
                "mg/dL": "mg/dL", "mg/dl": "mg/dL", "g/L": "g/L", "g/l": "g/L", "mg/L": "mg/L", "mg/l": "mg/L"}
# Thresholds in each accepted unit, so that every comparison is made on the number as written:
# creatinine > 2.5 mg/dL = 221.05 umol/L; IgA < 10 mg/dL = 0.1 g/L = 100 mg/L.
CREAT_ABOVE = {"mg/dL": 2.5, "umol/L": 221.05}
IGA_BELOW = {"mg/dL": 10.0, "g/L": 0.1, "mg/L": 100.0}
POSITIVE_INTERPRETATIONS = {"H", "HH", "POS"}
TITRE = re.compile(r"\s*>?\s*1\s*[:/]\s*(\d+)")
UNUSABLE_STATUS = {"entered-in-error", "cancelled"}


def age_on(birth, as_of):
    y, m, d = int(birth[0:4]), int(birth[5:7]), int(birth[8:10])
    return as_of.year - y - ((as_of.month, as_of.day) < (m, d))


def unit_of(q):
    u = q.get("code") if q.get("system") == UCUM else q.get("unit")
    return UNIT_ALIASES.get(u)


def sle_patient(r):
    """Rule 3: the patient id of a Condition that is an SLE diagnosis (not refuted, entered in error, or recorded
    as a possibility), else None. compare_tool.py applies the same rule."""
    ref = r.get("subject", {}).get("reference", "")
    if not ref.startswith("Patient/"):
        return None
    if not any((c.get("system") == SNOMED and c.get("code") == "55464009")
               or (c.get("system") == ICD10CM and c.get("code", "").startswith("M32.1"))
               for c in r.get("code", {}).get("coding", [])):
        return None
    if any(c.get("code") in ("refuted", "entered-in-error", "unconfirmed", "provisional", "differential")
           for c in r.get("verificationStatus", {}).get("coding", [])):
        return None
    return ref[8:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--as-of", default="2026-11-26")
    ap.add_argument("--ids-out")
    a = ap.parse_args()
    as_of = datetime.date.fromisoformat(a.as_of)
    D = as_of.isoformat()
    from365 = (as_of - datetime.timedelta(days=365)).isoformat()
    from56 = (as_of - datetime.timedelta(days=56)).isoformat()
    resources = 0

    # 1-2. Patients alive on the as-of date and aged 18-65 (completed years).
    candidates = set()
    with open(os.path.join(a.source, "Patient.ndjson"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            resources += 1
            if r.get("deceasedBoolean") is True:
                continue
            dd = r.get("deceasedDateTime")
            if dd and dd[:10] <= D:
                continue
            b = r.get("birthDate", "")
            if len(b) == 10 and 18 <= age_on(b, as_of) <= 65:
                candidates.add(r["id"])

    # 3. An SLE diagnosis (sle_patient).
    sle = set()
    with open(os.path.join(a.source, "Condition.ndjson"), encoding="utf-8") as f:
        for line in f:
            resources += 1
            pid = sle_patient(json.loads(line))
            if pid:
                sle.add(pid)

    # 4-6. Observations: latest serology within 365 days, creatinine within 56 days, latest IgA.
    latest = {}  # (concept, patient) -> [date, flag]: the latest date and whether any result of that date is flagged
    creat_high = set()
    with open(os.path.join(a.source, "Observation.ndjson"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            resources += 1
            concept = None
            for c in r.get("code", {}).get("coding", []):
                concept = CONCEPTS.get((c.get("system"), c.get("code")))
                if concept:
                    break
            if concept is None or r.get("status") in UNUSABLE_STATUS:
                continue
            ref = r.get("subject", {}).get("reference", "")
            eff = r.get("effectiveDateTime")
            if not ref.startswith("Patient/") or not eff:
                continue
            day = eff[:10]
            if day > D:
                continue
            pid = ref[8:]
            if concept == "dsdna":
                if day < from365:
                    continue
                flag = any(c.get("code") in POSITIVE_INTERPRETATIONS
                           for i in r.get("interpretation", []) for c in i.get("coding", []))
            elif concept == "ana":
                if day < from365:
                    continue
                m = TITRE.match(r.get("valueString", ""))
                flag = bool(m) and int(m.group(1)) >= 80
            elif concept == "creat":
                q = r.get("valueQuantity")
                if day >= from56 and q and "value" in q:
                    limit = CREAT_ABOVE.get(unit_of(q))
                    if limit is not None and q["value"] > limit:
                        creat_high.add(pid)
                continue
            else:  # iga
                q = r.get("valueQuantity")
                limit = IGA_BELOW.get(unit_of(q)) if q and "value" in q else None
                flag = limit is not None and q["value"] < limit
            key = (concept, pid)
            cur = latest.get(key)
            if cur is None or day > cur[0]:
                latest[key] = [day, flag]
            elif day == cur[0]:
                cur[1] = cur[1] or flag

    def flagged(concept, pid):
        v = latest.get((concept, pid))
        return bool(v and v[1])

    selected = sorted(p for p in candidates & sle
                      if (flagged("dsdna", p) or flagged("ana", p))
                      and p not in creat_high and not flagged("iga", p))
    text = "".join(p + "\n" for p in selected)
    if a.ids_out:
        with open(a.ids_out, "w", encoding="utf-8") as f:
            f.write(text)
    print("resources", resources)
    print("selected", len(selected))
    print("sha256", hashlib.sha256(text.encode()).hexdigest())


if __name__ == "__main__":
    sys.exit(main())
