#!/usr/bin/env python3
"""Writes the cohort-finder demo population for NCT07177911 and its golden expectations.

    python3 generate.py            # (re)write every generated file next to this script
    python3 generate.py --check    # regenerate into a temporary folder; exit 1 if a committed file differs
    python3 generate.py --huge F   # write a >64 MiB single-line NDJSON file F (line-too-long test; never committed)
    python3 generate.py --server-batch F  # one batch Bundle of PUTs with all demo resources, to load a FHIR server

Standard library only, no clock, no randomness: the output is byte-for-byte reproducible. All data are synthetic.
The expected outcomes below are written BY HAND from docs/trial-definition.md (they are not computed here); the
script only checks that each hand-written tier agrees with the hand-written criterion outcomes.
"""
import datetime
import filecmp
import json
import os
import re
import shutil
import sys
import tempfile
import uuid

AS_OF = "2026-11-26"
NEXT_DAY = "2026-11-27"
HERE = os.path.dirname(os.path.abspath(__file__))
UUID_NS = uuid.UUID("6f1c2a3e-6d0b-4d55-9a51-2c1f3c0c0312")  # fixed namespace for urn:uuid fullUrls

# --- Code systems ---------------------------------------------------------------------------------------------
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
LOCAL_LAB = "http://hospital.example.org/fhir/CodeSystem/lab-test"
LOCAL_DX = "http://hospital.example.org/fhir/CodeSystem/diagnosis"
LOCAL_DRUG = "http://hospital.example.org/fhir/CodeSystem/drug"
LOCAL_SCORE = "http://hospital.example.org/fhir/CodeSystem/disease-activity"
MRN = "http://hospital.example.org/fhir/sid/mrn"
SERVER = "http://hospital.example.org/fhir"
V3_INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBS_CAT = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CAT = "http://terminology.hl7.org/CodeSystem/condition-category"
DRUG_FORM = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"


def coding(system, code, display=None):
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return c


def cc(*codings, text=None):
    out = {}
    if codings:
        out["coding"] = list(codings)
    if text:
        out["text"] = text
    return out


# Laboratory codes (LOINC long names) and the example hospital's local codes (mappings/local/example-hospital.json).
LAB = {
    "ana_titre": coding(LOINC, "5048-4", "Nuclear Ab [Titer] in Serum by Immunofluorescence"),
    "ana_presence": coding(LOINC, "8061-4", "Nuclear Ab [Presence] in Serum"),
    "dsdna": coding(LOINC, "5130-0", "DNA double strand Ab [Units/volume] in Serum"),
    "sm": coding(LOINC, "11090-8", "Smith extractable nuclear Ab [Units/volume] in Serum"),
    "c3": coding(LOINC, "4485-9", "Complement C3 [Mass/volume] in Serum or Plasma"),
    "c4": coding(LOINC, "4498-2", "Complement C4 [Mass/volume] in Serum or Plasma"),
    "up24": coding(LOINC, "2889-4", "Protein [Mass/time] in 24 hour Urine"),
    "upcr": coding(LOINC, "2890-2", "Protein/Creatinine [Mass Ratio] in Urine"),
    "creat": coding(LOINC, "2160-0", "Creatinine [Mass/volume] in Serum or Plasma"),
    "creat_molar": coding(LOINC, "14682-9", "Creatinine [Moles/volume] in Serum or Plasma"),
    "iga": coding(LOINC, "2458-8", "IgA [Mass/volume] in Serum or Plasma"),
    "wbc": coding(LOINC, "6690-2", "Leukocytes [#/volume] in Blood by Automated count"),
    "plt": coding(LOINC, "777-3", "Platelets [#/volume] in Blood by Automated count"),
    "hgb": coding(LOINC, "718-7", "Hemoglobin [Mass/volume] in Blood"),
    "urbc": coding(LOINC, "13945-1", "Erythrocytes [#/area] in Urine sediment by Microscopy high power field"),
    "hbsag": coding(LOINC, "5196-1", "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay"),
    "hiv": coding(LOINC, "56888-1", "HIV 1+2 Ab+HIV1 p24 Ag [Presence] in Serum or Plasma by Immunoassay"),
    "hcg": coding(LOINC, "2106-3", "Choriogonadotropin (pregnancy test) [Presence] in Urine"),
}
LOCAL = {
    "ana_titre": coding(LOCAL_LAB, "ANA-IF", "抗核抗体滴度"),
    "dsdna": coding(LOCAL_LAB, "DSDNA", "抗双链DNA抗体"),
    "c3": coding(LOCAL_LAB, "C3", "补体C3"),
    "c4": coding(LOCAL_LAB, "C4", "补体C4"),
    "creat": coding(LOCAL_LAB, "CREA", "肌酐"),
    "up24": coding(LOCAL_LAB, "UTP24", "24小时尿蛋白定量"),
    "iga": coding(LOCAL_LAB, "IGA", "免疫球蛋白A"),
    "wbc": coding(LOCAL_LAB, "WBC", "白细胞计数"),
    "plt": coding(LOCAL_LAB, "PLT", "血小板计数"),
    "hgb": coding(LOCAL_LAB, "HGB", "血红蛋白"),
    "urbc": coding(LOCAL_LAB, "URBC-HPF", "尿红细胞(镜检)"),
    "sledai": coding(LOCAL_SCORE, "SLEDAI-2K", "SLEDAI-2K总分"),
}

POS = coding(SCT, "10828004", "Positive")
NEG = coding(SCT, "260385009", "Negative")
ORAL = cc(coding(SCT, "26643006", "Oral route"))
IV = cc(coding(SCT, "47625008", "Intravenous route"))

DRUG = {
    "prednisone": cc(coding(RXNORM, "8640", "prednisone"), coding(ATC, "H02AB07", "prednisone"), text="prednisone"),
    "methylprednisolone": cc(coding(RXNORM, "6902", "methylprednisolone"), coding(ATC, "H02AB04", "methylprednisolone"),
                             text="methylprednisolone"),
    "hcq": cc(coding(RXNORM, "5521", "hydroxychloroquine"), text="hydroxychloroquine"),
    "mmf": cc(coding(RXNORM, "68149", "mycophenolate mofetil"), text="mycophenolate mofetil"),
    "aza": cc(coding(RXNORM, "1256", "azathioprine"), text="azathioprine"),
    "tacrolimus": cc(coding(RXNORM, "42316", "tacrolimus"), text="tacrolimus"),
    "belimumab": cc(coding(RXNORM, "1092437", "belimumab"), coding(ATC, "L04AG04", "belimumab"), text="belimumab"),
    "pred20tab": cc(coding(RXNORM, "312615", "predniSONE 20 MG Oral Tablet"), text="predniSONE 20 MG Oral Tablet"),
    "local_pred": cc(coding(LOCAL_DRUG, "PRED-5", "醋酸泼尼松片 5mg"), text="醋酸泼尼松片"),
    "local_hcq": cc(coding(LOCAL_DRUG, "HCQ-200", "硫酸羟氯喹片 200mg"), text="硫酸羟氯喹片"),
}

# --- Dates (relative to the golden as-of date 2026-11-26) -----------------------------------------------------
# 8 weeks = 56 days: window starts 2026-10-01 (2026-10-02 for as-of 2026-11-27).
# 90 days: 2026-08-28 (2026-08-29). 12 months: 2025-11-26 (2025-11-27). 30 days: 2026-10-27. 5 years: 2021-11-26.
# Ordinary recent results are dated 2026-11-10 (16 days before), far from every edge; edge cases say so.
LAB_DAY = "2026-11-10"
SERO_DAY = "2026-11-10"


def dt(day, time="08:30:00"):
    return f"{day}T{time}+08:00"


# --- Builders -------------------------------------------------------------------------------------------------
ABBR = {"Condition": "cond", "Observation": "obs", "MedicationRequest": "mr", "MedicationStatement": "ms",
        "MedicationAdministration": "ma", "Procedure": "proc"}


def meta(version, day):
    if len(day) < 10:
        day = "2026-01-05"
    return {"versionId": str(version), "lastUpdated": f"{day[:10]}T12:00:00Z"}


class Pt:
    """One synthetic patient and their resources, in creation order."""

    def __init__(self, pid, birth, gender="female", name=None, deceased=None):
        self.pid = pid
        self.resources = []
        self.counts = {}
        p = {"resourceType": "Patient", "id": pid, "meta": {"versionId": "1", "lastUpdated": "2026-11-20T02:00:00Z"},
             "identifier": [{"system": MRN, "value": "CC" + pid[3:]}], "active": True}
        p["name"] = name or [{"use": "official", "family": "Synthetic", "given": ["Case " + pid[3:]]}]
        p["gender"] = gender
        if birth:
            p["birthDate"] = birth
        if deceased is True:
            p["deceasedBoolean"] = True
        elif deceased:
            p["deceasedDateTime"] = deceased
        self.patient = p
        self.resources.append(p)

    @property
    def ref(self):
        return {"reference": "Patient/" + self.pid}

    def _new(self, rtype, day, version=1):
        n = self.counts.get(rtype, 0) + 1
        self.counts[rtype] = n
        return {"resourceType": rtype, "id": f"{self.pid}-{ABBR[rtype]}-{n}", "meta": meta(version, day)}

    # Condition --------------------------------------------------------------------------------------------------
    def condition(self, code, onset, clinical="active", verification="confirmed", abatement=None, recorded=None,
                  category="problem-list-item", modifier=None):
        r = self._new("Condition", recorded or onset)
        if modifier:
            r["modifierExtension"] = [modifier]
        if clinical:
            r["clinicalStatus"] = cc(coding(COND_CLIN, clinical))
        if verification:
            r["verificationStatus"] = cc(coding(COND_VER, verification))
        r["category"] = [cc(coding(COND_CAT, category))]
        r["code"] = code
        r["subject"] = self.ref
        if onset:
            r["onsetDateTime"] = onset
        if abatement:
            r["abatementDateTime"] = abatement
        r["recordedDate"] = recorded or onset
        self.resources.append(r)
        return r

    # Observation ------------------------------------------------------------------------------------------------
    def obs(self, code, day, value=None, status="final", interp=None, rr=None, category="laboratory", time="08:30:00",
            version=1, note=None):
        r = self._new("Observation", day, version)
        r["status"] = status
        r["category"] = [cc(coding(OBS_CAT, category))]
        r["code"] = code
        r["subject"] = self.ref
        r["effectiveDateTime"] = dt(day, time) if len(day) == 10 else day
        r["issued"] = dt(day[:10], "16:00:00")
        if value:
            r.update(value)
        if interp:
            r["interpretation"] = [cc(coding(V3_INTERP, interp))]
        if rr:
            r["referenceRange"] = [rr]
        if note:
            r["note"] = [{"text": note}]
        self.resources.append(r)
        return r

    # Medications ------------------------------------------------------------------------------------------------
    def medreq(self, med, start, dose=None, freq=1, end=None, status="active", route=ORAL, text=None, ref=None,
               duration_days=None, timing_code=None):
        r = self._new("MedicationRequest", start)
        r["status"] = status
        r["intent"] = "order"
        if ref:
            r["medicationReference"] = {"reference": ref}
        else:
            r["medicationCodeableConcept"] = med
        r["subject"] = self.ref
        r["authoredOn"] = start
        d = {}
        if text:
            d["text"] = text
        if dose is not None:
            rep = {"boundsPeriod": {"start": start}}
            if end:
                rep["boundsPeriod"]["end"] = end
            if duration_days:
                rep = {"boundsDuration": {"value": duration_days, "unit": "d", "system": UCUM, "code": "d"}}
            rep.update({"frequency": freq, "period": 1, "periodUnit": "d"})
            timing = {"repeat": rep}
            if timing_code:
                timing["code"] = cc(coding("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", timing_code))
            d["timing"] = timing
        if route:
            d["route"] = route
        if dose is not None:
            d["doseAndRate"] = [{"doseQuantity": dose}]
        r["dosageInstruction"] = [d]
        self.resources.append(r)
        return r

    def medstmt(self, med, start, dose=None, freq=1, end=None, status="active", route=ORAL, asserted=None,
                ref=None, ref_display=None):
        r = self._new("MedicationStatement", asserted or start)
        r["status"] = status
        if ref:
            r["medicationReference"] = {"reference": ref, **({"display": ref_display} if ref_display else {})}
        else:
            r["medicationCodeableConcept"] = med
        r["subject"] = self.ref
        r["effectivePeriod"] = {"start": start, **({"end": end} if end else {})}
        r["dateAsserted"] = asserted or start
        d = {"timing": {"repeat": {"frequency": freq, "period": 1, "periodUnit": "d"}}, "route": route}
        if dose is not None:
            d["doseAndRate"] = [{"doseQuantity": dose}]
        r["dosage"] = [d]
        self.resources.append(r)
        return r

    def medadmin(self, med, when, dose, route=IV):
        r = self._new("MedicationAdministration", when)
        r["status"] = "completed"
        r["medicationCodeableConcept"] = med
        r["subject"] = self.ref
        r["effectiveDateTime"] = when
        r["dosage"] = {"route": route, "dose": dose}
        self.resources.append(r)
        return r

    def procedure(self, code, when):
        r = self._new("Procedure", when)
        r["status"] = "completed"
        r["code"] = code
        r["subject"] = self.ref
        r["performedDateTime"] = when
        self.resources.append(r)
        return r


# Values -------------------------------------------------------------------------------------------------------
def Q(value, unit, code=None, comparator=None, ucum=True):
    q = {"value": value}
    if comparator:
        q["comparator"] = comparator
    q["unit"] = unit
    if ucum:
        q["system"] = UCUM
        q["code"] = code or unit
    return q


def VQ(*a, **k):
    return {"valueQuantity": Q(*a, **k)}


def VS(s):
    return {"valueString": s}


def VCC(c, text=None):
    return {"valueCodeableConcept": cc(c, text=text)}


def VRATIO(num, den):
    return {"valueRatio": {"numerator": {"value": num}, "denominator": {"value": den}}}


def VINT(n):
    return {"valueInteger": n}


def RR(low, high, unit, code=None, ucum=True):
    out = {}
    if low is not None:
        out["low"] = Q(low, unit, code, ucum=ucum)
    if high is not None:
        out["high"] = Q(high, unit, code, ucum=ucum)
    return out


MG = lambda v: Q(v, "mg")  # noqa: E731
TAB = lambda v: {"value": v, "unit": "TAB", "system": DRUG_FORM, "code": "TAB"}  # noqa: E731

SLE_SCT = cc(coding(SCT, "55464009", "Systemic lupus erythematosus"), text="Systemic lupus erythematosus")


# --- Building blocks of an "otherwise eligible" patient -------------------------------------------------------
def sle(p, code=SLE_SCT, onset="2019-04-15"):
    return p.condition(code, onset)


def ana(p, value, day=SERO_DAY, codes=None):
    return p.obs(cc(*(codes or [LAB["ana_titre"]])), day, value)


def dsdna_pos(p, day=SERO_DAY):
    return p.obs(cc(LAB["dsdna"]), day, VQ(85, "IU/mL", "[IU]/mL"), interp="H", rr=RR(None, 25, "IU/mL", "[IU]/mL"))


def dsdna_neg(p, day=SERO_DAY):
    return p.obs(cc(LAB["dsdna"]), day, VQ(6, "IU/mL", "[IU]/mL"), interp="N", rr=RR(None, 25, "IU/mL", "[IU]/mL"))


def c3_low(p, day=LAB_DAY):
    return p.obs(cc(LAB["c3"]), day, VQ(0.62, "g/L"), interp="L", rr=RR(0.9, 1.8, "g/L"))


def c3_normal(p, day=LAB_DAY):
    return p.obs(cc(LAB["c3"]), day, VQ(1.12, "g/L"), interp="N", rr=RR(0.9, 1.8, "g/L"))


def c4_normal(p, day=LAB_DAY):
    return p.obs(cc(LAB["c4"]), day, VQ(0.18, "g/L"), interp="N", rr=RR(0.1, 0.4, "g/L"))


def c4_low(p, day=LAB_DAY):
    return p.obs(cc(LAB["c4"]), day, VQ(0.06, "g/L"), interp="L", rr=RR(0.1, 0.4, "g/L"))


def up24(p, value, unit="g/(24.h)", day=LAB_DAY, human=None, status="final", version=1):
    return p.obs(cc(LAB["up24"]), day, VQ(value, human or unit.replace("(24.h)", "24 h"), unit), status=status,
                 version=version)


def urbc(p, value, day=LAB_DAY):
    return p.obs(cc(LAB["urbc"]), day, VQ(value, "/HPF", "/[HPF]"), rr=RR(None, 3, "/HPF", "/[HPF]"))


def creat(p, value, day=LAB_DAY, status="final", version=1, time="08:30:00"):
    return p.obs(cc(LAB["creat"]), day, VQ(value, "mg/dL"), status=status, version=version, time=time,
                 rr=RR(0.5, 1.1, "mg/dL"))


def creat_umol(p, value, day=LAB_DAY):
    return p.obs(cc(LAB["creat_molar"]), day, VQ(value, "µmol/L", "umol/L"), rr=RR(45, 97, "µmol/L", "umol/L"))


def iga(p, value=220, unit="mg/dL", day="2026-06-15"):
    return p.obs(cc(LAB["iga"]), day, VQ(value, unit))


def cbc(p, day=LAB_DAY, wbc=(5.6, "10*3/uL", "10^3/uL"), plt=(220, "10*3/uL", "10^3/uL"), hgb=(12.4, "g/dL", "g/dL")):
    p.obs(cc(LAB["wbc"]), day, VQ(wbc[0], wbc[2], wbc[1]))
    p.obs(cc(LAB["plt"]), day, VQ(plt[0], plt[2], plt[1]))
    p.obs(cc(LAB["hgb"]), day, VQ(hgb[0], hgb[2], hgb[1]))


def hbsag_neg(p, day="2026-05-20"):
    return p.obs(cc(LAB["hbsag"]), day, VCC(NEG))


def sledai_local(p, score, day="2026-11-12"):
    return p.obs(cc(LOCAL["sledai"], text="SLEDAI-2K"), day, VINT(score), category="survey")


def std_meds(p, gc=True):
    """Prednisone 10 mg once daily + hydroxychloroquine + mycophenolate, all active and started long ago."""
    if gc:
        p.medreq(DRUG["prednisone"], "2025-06-01", MG(10), 1, text="prednisone 10 mg orally once daily")
    p.medreq(DRUG["hcq"], "2024-03-01", MG(200), 2, text="hydroxychloroquine 200 mg orally twice daily")
    p.medreq(DRUG["mmf"], "2025-01-15", MG(1000), 2, text="mycophenolate mofetil 1000 mg orally twice daily")


def standard(p, *, sle_cond=True, ana_value=VS("1:320"), dsdna="pos", c3="low", up=0.8, rbc=8, creat_value=0.82,
             iga_value=220, blood=True, hbsag=True, meds=True):
    """An otherwise eligible patient: every computable criterion decided in favour.

    SLEDAI-2K lab bound with the defaults = proteinuria 0.8 g/24h (4) + haematuria 8/hpf (4) + low C3 (2)
    + anti-dsDNA positive (2) = 12 >= 7.
    """
    if sle_cond:
        sle(p)
    if ana_value:
        ana(p, ana_value)
    if dsdna == "pos":
        dsdna_pos(p)
    elif dsdna == "neg":
        dsdna_neg(p)
    if c3 == "low":
        c3_low(p)
        c4_normal(p)
    elif c3 == "normal":
        c3_normal(p)
        c4_normal(p)
    if up is not None:
        up24(p, up)
    if rbc is not None:
        urbc(p, rbc)
    if creat_value is not None:
        creat(p, creat_value)
    if iga_value is not None:
        iga(p, iga_value)
    if blood:
        cbc(p)
    if hbsag:
        hbsag_neg(p)
    if meds:
        std_meds(p)


# --- Expected outcomes ----------------------------------------------------------------------------------------
CRITERIA = ["I1", "I2", "I3", "I4a", "I4b", "I5", "I6a", "I6b", "I6c", "I6d", "I7", "I8",
            "E-SLN", "E-CNS", "E-TX", "E-AI", "E-IGA", "A-HBV", "A-HIV", "A-MAL", "A-PREG", "A-LAB"]
INCLUSIONS = CRITERIA[:12]
# The outcome of every criterion for an "otherwise eligible" patient (standard() above), adjudicated by hand.
BASE = {"I1": "manual", "I2": "met", "I3": "met", "I4a": "met", "I4b": "manual", "I5": "met", "I6a": "manual",
        "I6b": "manual", "I6c": "met", "I6d": "met", "I7": "manual", "I8": "manual",
        "E-SLN": "not_met", "E-CNS": "not_met", "E-TX": "not_met", "E-AI": "not_met", "E-IGA": "not_met",
        "A-HBV": "not_met", "A-HIV": "not_met", "A-MAL": "not_met", "A-PREG": "not_met", "A-LAB": "not_met"}

CASES = []  # (patient builder, expectation)


def case(p, tier, proves, deciding, over=None, next_day=None, deceased=False):
    crit = dict(BASE)
    crit.update(over or {})
    exp = {"patient": p.pid, "tier": tier, "proves": proves, "deciding": deciding, "criteria": crit}
    if deceased:
        exp["deceased"] = True
    CASES.append((p, exp, next_day))
    return p


def tier_of(crit, deceased=False):
    if deceased:
        return "ineligible"
    if any(crit[c] == "not_met" for c in INCLUSIONS) or any(crit[c] == "met" for c in CRITERIA[12:]):
        return "ineligible"
    if all(crit[c] in ("met", "manual") for c in INCLUSIONS) and all(crit[c] in ("not_met", "manual")
                                                                      for c in CRITERIA[12:]):
        return "eligible"
    return "possible"


def deciding_of(crit, tier, deceased=False):
    if tier == "ineligible":
        d = ["deceased"] if deceased else []
        return d + [c for c in INCLUSIONS if crit[c] == "not_met"] + [c for c in CRITERIA[12:] if crit[c] == "met"]
    if tier == "possible":
        return [c for c in CRITERIA if crit[c] == "unknown"]
    return []


# =============================================================================================================
# ELIGIBLE (14 at 2026-11-26)
# =============================================================================================================
p = Pt("cc-001", "1988-04-12")
sle(p)
ana(p, VS("1:320"))
dsdna_pos(p)
c3_low(p)
c4_normal(p)
up24(p, 0.8)
urbc(p, 8)
creat(p, 0.82)
iga(p)
cbc(p)
hbsag_neg(p)
p.medreq(DRUG["prednisone"], "2025-06-01", MG(10), 2, text="prednisone 10 mg orally twice daily", timing_code="BID")
p.medreq(DRUG["hcq"], "2024-03-01", MG(200), 2, text="hydroxychloroquine 200 mg orally twice daily")
p.medreq(DRUG["mmf"], "2025-01-15", MG(1000), 2, text="mycophenolate mofetil 1000 mg orally twice daily")
case(p, "eligible",
     "Reference case: SNOMED SLE, ANA '1:320', anti-dsDNA H, SLEDAI-2K lab bound 12 (0.8 g/24h 4 + 8 RBC/hpf 4 + low C3 2 "
     "+ dsDNA 2), prednisone 10 mg BID = 20 mg/day with hydroxychloroquine and mycophenolate.", [])

# cc-002: a Chinese hospital's record: local codes first or alone, Chinese text, unit aliases without UCUM.
p = Pt("cc-002", "1979-07-03", name=[{"use": "official", "text": "测试 病例零零二", "family": "测试", "given": ["病例零零二"]}])
p.condition(cc(coding(LOCAL_DX, "SLE", "系统性红斑狼疮"), text="系统性红斑狼疮"), "2016-09-01")
p.obs(cc(LOCAL["ana_titre"], LAB["ana_titre"], text="抗核抗体滴度"), SERO_DAY, VS("1/320"))
p.obs(cc(LOCAL["dsdna"], LAB["dsdna"], text="抗双链DNA抗体"), SERO_DAY, VQ(120, "IU/mL", ucum=False), interp="H",
      rr=RR(None, 100, "IU/mL", ucum=False))
p.obs(cc(LOCAL["c3"], LAB["c3"], text="补体C3"), LAB_DAY, VQ(0.55, "g/L", ucum=False), interp="L",
      rr=RR(0.79, 1.52, "g/L", ucum=False))
p.obs(cc(LOCAL["c4"], text="补体C4"), LAB_DAY, VQ(0.17, "g/L", ucum=False), rr=RR(0.16, 0.38, "g/L", ucum=False))
p.obs(cc(LOCAL["up24"], text="24小时尿蛋白定量"), LAB_DAY, VQ(0.8, "g/24h", ucum=False))
p.obs(cc(LOCAL["urbc"], text="尿红细胞(镜检)"), LAB_DAY, VQ(9, "/HPF", ucum=False))
p.obs(cc(LOCAL["creat"], LAB["creat_molar"], text="肌酐"), LAB_DAY, VQ(221, "μmol/L", ucum=False),
      rr=RR(41, 81, "μmol/L", ucum=False))
p.obs(cc(LOCAL["iga"], text="免疫球蛋白A"), "2026-06-15", VQ(0.10, "g/L", ucum=False), rr=RR(0.7, 4.0, "g/L", ucum=False))
p.obs(cc(LOCAL["wbc"], LAB["wbc"], text="白细胞计数"), LAB_DAY, VQ(4.6, "10^9/L", ucum=False))
p.obs(cc(LOCAL["plt"], LAB["plt"], text="血小板计数"), LAB_DAY, VQ(168, "10^9/L", ucum=False))
p.obs(cc(LOCAL["hgb"], LAB["hgb"], text="血红蛋白"), LAB_DAY, VQ(112, "g/L", ucum=False))
p.obs(cc(LAB["hbsag"], text="乙肝表面抗原"), "2026-05-20", VS("阴性"))
p.medreq(DRUG["local_pred"], "2025-04-01", MG(10), 1, text="醋酸泼尼松片 10mg 每日一次 口服")
p.medreq(DRUG["local_hcq"], "2023-10-09", MG(200), 2, text="硫酸羟氯喹片 200mg 每日两次 口服")
p.medreq(DRUG["tacrolimus"], "2025-05-20", MG(1), 2, text="他克莫司 1mg 每日两次 口服")
case(p, "eligible",
     "Local hospital codes before or instead of LOINC, Chinese text and non-UCUM unit aliases decide everything; "
     "creatinine 221 umol/L = 2.4994 mg/dL is NOT > 2.5 mg/dL and IgA 0.10 g/L = 10 mg/dL is NOT < 10.", [])

# cc-003: 18th birthday on the as-of date (collection Bundle).
p = Pt("cc-003", "2008-11-26")
sle(p, onset="2025-02-10")
p.obs(cc(LAB["ana_titre"]), SERO_DAY, VRATIO(1, 160))
c3_low(p)
c4_normal(p)
up24(p, 0.45)
p.obs(cc(LAB["upcr"]), LAB_DAY, VQ(80, "mg/mmol"))
urbc(p, 8)
creat(p, 0.61)
iga(p, 1.9, "g/L")
cbc(p, wbc=(6.1, "10*9/L", "10^9/L"), plt=(250000, "/uL", "/uL"), hgb=(121, "g/L", "g/L"))
hbsag_neg(p)
p.medreq(DRUG["prednisone"], "2025-03-01", MG(15), 1, text="prednisone 15 mg orally once daily")
p.medreq(DRUG["hcq"], "2025-03-01", MG(200), 2)
p.medreq(DRUG["mmf"], "2025-05-01", MG(750), 2)
case(p, "eligible",
     "Age exactly 18 on the as-of date (born 2008-11-26); ANA only as valueRatio 1:160; UPCR 80 mg/mmol = 0.71 g/g gives "
     "the SLEDAI proteinuria item; cell counts in 10*9/L and /uL, haemoglobin in g/L.", [])

# cc-004: 66th birthday the day after the as-of date.
p = Pt("cc-004", "1960-11-27")
sle(p, code=cc(coding(ICD10CM, "M32.14", "Glomerular disease in systemic lupus erythematosus")), onset="2004-03-01")
ana(p, VS("1:640"))
p.obs(cc(LAB["dsdna"]), SERO_DAY, VQ(60, "IU/mL", "[IU]/mL"), interp="POS")
c3_low(p)
c4_normal(p)
up24(p, 1.2)
urbc(p, 6)
creat(p, 1.05)
iga(p, 310)
cbc(p)
hbsag_neg(p)
std_meds(p)
case(p, "eligible",
     "Age 65 on the as-of date (66th birthday on 2026-11-27, see expected-2026-11-27.json); ICD-10-CM M32.14; "
     "anti-dsDNA positive by interpretation POS alone.", [],
     next_day={"tier": "ineligible", "reason": "66th birthday on 2026-11-27: age 66 > 65", "over": {"I2": "not_met"}})

# cc-005: no SLE Condition; EULAR/ACR lab bound >= 10 with a clinical item (transaction Bundle, medicationReference).
p = Pt("cc-005", "1992-02-29")
ana(p, VS("1:80 speckled"))
p.obs(cc(LAB["dsdna"]), SERO_DAY, VQ(45, "IU/mL", "[IU]/mL"), rr=RR(None, 30, "IU/mL", "[IU]/mL"))
p.obs(cc(LAB["c3"]), LAB_DAY, VQ(0.55, "g/L"), rr=RR(0.9, 1.8, "g/L"))
p.obs(cc(LAB["c4"]), LAB_DAY, VQ(0.06, "g/L"), rr=RR(0.1, 0.4, "g/L"))
up24(p, 0.9)
creat(p, 0.77)
iga(p, 180)
cbc(p)
hbsag_neg(p)
p.medreq(DRUG["prednisone"], "2025-08-01", MG(10), 1)
p.medreq(DRUG["hcq"], "2025-08-01", MG(200), 2)
p.medreq(None, "2025-09-15", MG(50), 2, ref="Medication/med-aza-50mg", text="azathioprine 50 mg orally twice daily")
case(p, "eligible",
     "No SLE Condition: ANA '1:80 speckled' (entry) + anti-dsDNA above referenceRange.high without interpretation (6) "
     "+ low C3 and C4 (4) + proteinuria 0.9 g/24h (4) = EULAR/ACR lab bound 14 with a clinical (renal) item meets I3; "
     "azathioprine is given by medicationReference to a Medication in the same transaction Bundle.", [])

# cc-006: SLEDAI-2K recorded with the local score code; lab bound only 4.
p = Pt("cc-006", "1985-10-21")
sle(p)
ana(p, VS(">1:1280"))
dsdna_pos(p)
c3_low(p)
c4_normal(p)
up24(p, 300, "mg/(24.h)")
creat(p, 0.7)
iga(p)
cbc(p)
hbsag_neg(p)
sledai_local(p, 10)
p.medreq(DRUG["prednisone"], "2025-02-01", MG(7.5), 1, text="prednisone 7.5 mg orally once daily")
p.medstmt(None, "2023-05-01", MG(200), 2, asserted="2026-11-12", ref="Medication/med-hcq-200mg",
          ref_display="hydroxychloroquine 200 mg tablet")
for day in ("2026-09-10", "2026-10-08", "2026-11-05"):
    p.medadmin(DRUG["belimumab"], dt(day, "10:00:00"), MG(600))
case(p, "eligible",
     "I4a met by a recorded SLEDAI-2K of 10 (local score code) although the lab bound is 4 (300 mg/24h is not > 0.5 g); "
     "ANA '>1:1280'; I6a from prednisone + hydroxychloroquine (MedicationStatement naming Medication/med-hcq-200mg by "
     "reference) + belimumab "
     "(MedicationAdministration); prednisone exactly 7.5 mg/day.", [])

# cc-007: glucocorticoid only at 10 mg/day now; mycophenolate in the past through a Medication resource.
p = Pt("cc-007", "1983-01-30")
sle(p)
p.obs(cc(LAB["dsdna"]), SERO_DAY, VCC(POS, text="Positive"))
c3_low(p)
c4_normal(p)
up24(p, 0.8)
creat(p, 0.9)
iga(p)
cbc(p)
hbsag_neg(p)
p.medreq(DRUG["prednisone"], "2025-09-01", MG(10), 1, text="prednisone 10 mg orally once daily")
p.medreq(None, "2023-03-01", MG(1000), 2, end="2025-08-31", status="completed", ref="Medication/med-mmf-500mg",
         text="mycophenolate mofetil 1000 mg orally twice daily")
case(p, "eligible",
     "Glucocorticoid-only therapy at 10 mg/day meets I6d (>= 7.5); past mycophenolate given by medicationReference to "
     "Medication/med-mmf-500mg makes two classes for I6a; anti-dsDNA coded SNOMED 10828004 is the only autoantibody.", [])

# cc-008: tablet-count dose through RxNorm product 312615; birth year only (nested Bundle).
p = Pt("cc-008", "1990", gender="male")
sle(p, onset="2021-06-01")
ana(p, VS("1:160"))
dsdna_pos(p)
p.obs(cc(LAB["c3"]), LAB_DAY, VQ(65, "mg/dL"))
c4_normal(p)
up24(p, 900, "mg/(24.h)")
urbc(p, 12)
creat_umol(p, 88)
iga(p)
cbc(p)
hbsag_neg(p)
p.medreq(DRUG["pred20tab"], "2025-07-01", TAB(1), 1, text="1 tablet (20 mg) orally once daily")
p.medreq(DRUG["hcq"], "2024-01-10", MG(200), 2)
p.medreq(DRUG["mmf"], "2024-06-01", MG(1000), 2)
case(p, "eligible",
     "Birth date '1990' (year only, ages 35-36, no boundary) meets I2; prednisone as 1 tablet of RxNorm 312615 = 20 mg/day; "
     "900 mg/24h and 88 umol/L convert; C3 65 mg/dL without referenceRange is low by the default range.", [])

# cc-009: every value exactly on its threshold (none crosses it).
p = Pt("cc-009", "1975-05-05")
sle(p, code=cc(coding(ICD10, "M32.1", "Systemic lupus erythematosus with organ or system involvement")))
ana(p, VS("1:320"))
dsdna_pos(p)
c3_low(p)
c4_normal(p)
up24(p, 6.0)
urbc(p, 10)
creat(p, 2.50)
iga(p, 10)
cbc(p, wbc=(2.5, "10*3/uL", "10^3/uL"), plt=(50, "10*3/uL", "10^3/uL"), hgb=(8.5, "g/dL", "g/dL"))
hbsag_neg(p)
p.medreq(DRUG["prednisone"], "2025-06-01", MG(20), 2, text="prednisone 20 mg orally twice daily")
p.medreq(DRUG["hcq"], "2024-03-01", MG(200), 2)
p.medreq(DRUG["mmf"], "2025-01-15", MG(1000), 2)
case(p, "eligible",
     "Exact thresholds are not crossed: urine protein 6.0 g/24h (not > 6), creatinine 2.50 mg/dL (not > 2.5), IgA 10 mg/dL "
     "(not < 10), WBC 2.5, platelets 50, Hb 8.5 g/dL = 85 g/L (not <), prednisone 20 mg BID = 40 mg/day (<= 40).", [])

# cc-010: events just outside their windows, or too short.
p = Pt("cc-010", "1981-12-02")
sle(p)
ana(p, VS("1:320"))
dsdna_pos(p)
c3_low(p)
c4_normal(p)
up24(p, 0.8)
urbc(p, 8)
creat(p, 3.0, day="2026-09-30")
creat(p, 0.9)
iga(p, 0.05, "g/L", day="2019-03-01")
iga(p, 1.8, "g/L", day="2026-06-15")
cbc(p)
p.obs(cc(LAB["hbsag"]), "2024-10-15", VCC(POS))
hbsag_neg(p)
p.condition(cc(coding(ICD10CM, "R56.9", "Unspecified convulsions")), dt("2026-09-30", "09:00:00"), clinical="resolved",
            abatement=dt("2026-09-30", "11:00:00"), category="encounter-diagnosis")
p.procedure(cc(coding(SCT, "302497006", "Hemodialysis")), dt("2019-05-10", "09:00:00"))
p.medreq(DRUG["prednisone"], "2025-01-10", MG(10), 1, end="2026-10-19", status="completed")
p.medreq(DRUG["prednisone"], "2026-10-20", MG(60), 2, duration_days=10, status="completed",
         text="prednisone 60 mg orally twice daily for 10 days")
p.medreq(DRUG["prednisone"], "2026-10-30", MG(15), 1, text="prednisone 15 mg orally once daily")
p.medreq(DRUG["hcq"], "2024-03-01", MG(200), 2)
p.medreq(DRUG["mmf"], "2025-01-15", MG(1000), 2)
case(p, "eligible",
     "Just outside: creatinine 3.0 mg/dL and a seizure 57 days before the as-of date (8-week window starts 56 days "
     "before), haemodialysis in 2019, HBsAg positive in 2024 (> 12 months), IgA < 10 only before the latest normal "
     "value, and prednisone 120 mg/day for only 10 days (< 14).", [])

# cc-011: records that would exclude are entered-in-error, cancelled, or dated after the as-of date.
p = Pt("cc-011", "1994-08-18")
sle(p)
ana(p, VS("1:320"))
dsdna_pos(p)
c3_low(p)
c4_normal(p)
up24(p, 0.8)
up24(p, 7.2, day="2026-11-05", status="cancelled", version=2)
urbc(p, 8)
creat(p, 0.9)
creat(p, 3.6, day="2026-11-05", status="entered-in-error", version=2)
creat(p, 3.4, day="2026-11-27")
iga(p)
cbc(p)
hbsag_neg(p)
p.obs(cc(LAB["hbsag"]), "2026-10-15", VCC(POS), status="entered-in-error", version=2)
p.obs(cc(LAB["hiv"]), "2026-12-15", VCC(POS))
std_meds(p)
case(p, "eligible",
     "Ignored: creatinine 3.6 entered-in-error, urine protein 7.2 g/24h cancelled, HBsAg positive entered-in-error, "
     "creatinine 3.4 on 2026-11-27 and HIV positive on 2026-12-15 (after the as-of date).", [],
     next_day={"tier": "ineligible", "reason": "creatinine 3.4 mg/dL dated 2026-11-27 is no longer after the as-of date",
               "over": {"E-SLN": "met"}})

# cc-012: diagnoses that look like exclusions but are not.
p = Pt("cc-012", "1970-03-09")
standard(p, blood=False)
p.obs(cc(LAB["wbc"]), "2026-09-10", VQ(2.1, "10^3/uL", "10*3/uL"))
cbc(p, wbc=(4.5, "10*3/uL", "10^3/uL"))
p.condition(cc(coding(SCT, "83901003", "Sjogren's syndrome")), "2022-04-01")
p.condition(cc(coding(SCT, "69896004", "Rheumatoid arthritis")), "2015-02-01", clinical="resolved",
            abatement="2018-06-30")
p.condition(cc(coding(ICD10CM, "C50.911", "Malignant neoplasm of unspecified site of right female breast")),
            "2020-05-10", clinical="resolved", abatement="2020-12-15")
p.condition(cc(coding(ICD10CM, "C44.91", "Basal cell carcinoma of skin, unspecified")), "2025-04-01",
            clinical="resolved", abatement="2025-05-02")
p.condition(cc(coding(SCT, "77386006", "Pregnancy")), "2023-11-20", clinical="resolved", abatement="2024-08-02")
p.obs(cc(LAB["hcg"]), LAB_DAY, VCC(NEG))
p.medadmin(DRUG["methylprednisolone"], dt("2025-03-10", "10:00:00"), MG(500))
p.medstmt(DRUG["aza"], "2019-01-01", MG(100), 1, end="2021-12-31", status="completed", asserted="2022-01-10")
case(p, "eligible",
     "Not exclusions: Sjogren's syndrome (excepted), rheumatoid arthritis resolved, breast cancer 6 years ago, basal cell "
     "carcinoma (C44 excluded), pregnancy resolved with a negative hCG, and a low WBC that is not the latest.", [])

# cc-013: the only autoantibody result is exactly 12 months old.
p = Pt("cc-013", "1987-06-25")
sle(p)
ana(p, VS("1:160"), day="2025-11-26")
p.obs(cc(LAB["dsdna"]), "2025-10-10", VQ(90, "IU/mL", "[IU]/mL"), interp="H", rr=RR(None, 25, "IU/mL", "[IU]/mL"))
c3_low(p)
c4_normal(p)
up24(p, 0.8)
urbc(p, 8)
creat(p, 0.9)
iga(p)
cbc(p)
hbsag_neg(p)
std_meds(p)
case(p, "eligible",
     "12-month serology edge: ANA 1:160 on 2025-11-26 (exactly 12 calendar months before) is inside the I5 window; "
     "the positive anti-dsDNA of 2025-10-10 is outside it.", [],
     next_day={"tier": "possible", "reason": "the ANA of 2025-11-26 leaves the 12-month window; no autoantibody within it",
               "over": {"I5": "unknown"}})

# cc-014: background therapy started exactly 84 days (12 weeks) before the as-of date.
p = Pt("cc-014", "1997-07-17")
standard(p, meds=False)
p.medreq(DRUG["hcq"], "2026-09-03", MG(200), 2)
p.medreq(DRUG["mmf"], "2026-09-03", MG(1000), 2)
case(p, "eligible",
     "Background therapy (hydroxychloroquine + mycophenolate, no glucocorticoid) started on 2026-09-03, exactly 84 days "
     "before the as-of date: I6b's >= 84 days is met on the boundary; no glucocorticoid meets I6c and I6d.", [])

# =============================================================================================================
# POSSIBLE (26 at 2026-11-26)
# =============================================================================================================
p = Pt("cc-015", "1985-03-14")
case(p, "ineligible", "A Patient with no other data: every lab criterion is unknown (missing data is never 'no'), "
     "but with no SLE diagnosis and no positive ANA on record I3 is not met (docs/trial-definition.md: a coded "
     "diagnosis is a record-presence criterion, and the EULAR/ACR bound needs its ANA entry criterion on record).",
     None, {"I3": "not_met", "I4a": "unknown", "I5": "unknown", "I6a": "unknown", "I6b": "unknown",
            "E-SLN": "unknown", "E-IGA": "unknown", "A-LAB": "unknown"})

p = Pt("cc-016", None)
standard(p)
case(p, "possible", "No birthDate: age unknown.", None, {"I2": "unknown"})

p = Pt("cc-017", "2008")
standard(p)
case(p, "possible", "Birth date '2008' (year only) straddles the 18th birthday: age 17 or 18.", None, {"I2": "unknown"})

p = Pt("cc-018", "1960")
standard(p)
case(p, "possible", "Birth date '1960' (year only) straddles the 66th birthday: age 65 or 66.", None, {"I2": "unknown"})

I3_NOTE = (" ANA is 1:40 (below the EULAR/ACR entry criterion and the I3 ANA branch): without a usable SLE diagnosis "
           "and without a positive ANA on record I3 is not met; anti-dsDNA positive meets I5.")
p = Pt("cc-019", "1991-09-09")
p.condition(SLE_SCT, "2022-03-01", clinical=None, verification="refuted", category="encounter-diagnosis")
standard(p, sle_cond=False, ana_value=VS("1:40"))
case(p, "ineligible", "An SLE Condition with verificationStatus refuted does not count." + I3_NOTE, None, {"I3": "not_met"})

p = Pt("cc-020", "1984-11-02")
p.condition(SLE_SCT, "2021-07-12", clinical=None, verification="entered-in-error")
standard(p, sle_cond=False, ana_value=VS("1:40"))
case(p, "ineligible", "An SLE Condition with verificationStatus entered-in-error does not count." + I3_NOTE, None,
     {"I3": "not_met"})

p = Pt("cc-021", "1977-04-17")
p.condition(SLE_SCT, "2018-01-20", modifier={
    "url": "http://hospital.example.org/fhir/StructureDefinition/diagnosis-ruled-out", "valueBoolean": True})
standard(p, sle_cond=False, ana_value=VS("1:40"))
case(p, "possible",
     "An SLE Condition carrying an unknown modifierExtension (a local 'diagnosis ruled out' flag the tool cannot "
     "read) is not used as evidence, but it is not absent either: I3 is unknown until a human reads it (RELIABILITY "
     "D4; missing or unreadable data is never 'no'). ANA is 1:40, below the EULAR/ACR entry criterion.", None,
     {"I3": "unknown"})

p = Pt("cc-022", "1968-08-08", gender="male")
p.condition(cc(coding(SCT, "201436003", "Drug-induced systemic lupus erythematosus"),
               coding(ICD10CM, "M32.0", "Drug-induced systemic lupus erythematosus")), "2024-02-14")
standard(p, sle_cond=False, ana_value=VS("1:40"))
case(p, "ineligible",
     "Drug-induced lupus (SNOMED 201436003 / ICD-10-CM M32.0) is not SLE: the excluded codes and their display text "
     "never match the SLE concept." + I3_NOTE, None, {"I3": "not_met"})

p = Pt("cc-023", "1993-12-12")
p.condition(cc(coding(SCT, "200936003", "Lupus erythematosus")), "2020-10-01")
standard(p, sle_cond=False, ana_value=VS("1:40"))
case(p, "possible",
     "Synthea's generic lupus code SNOMED 200936003 is low confidence: it makes I3 unknown (confirm SLE), never met "
     "or not met; ANA is 1:40, so no other I3 branch decides it; anti-dsDNA positive meets I5.",
     None, {"I3": "unknown"})

p = Pt("cc-024", "1989-05-30")
standard(p, ana_value=VS("1:40"), dsdna=None)
p.obs(cc(LAB["ana_presence"]), SERO_DAY, VCC(NEG))
p.obs(cc(LAB["sm"]), SERO_DAY, VCC(NEG))
p.obs(cc(LAB["dsdna"]), SERO_DAY, VQ(150, "IU/mL", "[IU]/mL"))
case(p, "possible",
     "Anti-dsDNA 150 IU/mL with neither interpretation nor referenceRange is unusable, so I5 is unknown (ANA 1:40, ANA "
     "presence and anti-Sm are negative); SLEDAI lab bound stays 10 without it.", None, {"I5": "unknown"})

p = Pt("cc-025", "1996-01-19")
standard(p, ana_value=None, dsdna="neg")
p.obs(cc(LAB["ana_presence"]), SERO_DAY, VCC(POS))
p.obs(cc(LAB["sm"]), SERO_DAY, VQ(2.1, "U/mL"), interp="N", rr=RR(None, 20, "U/mL"))
case(p, "possible",
     "ANA reported positive without a titre: the review node makes I5 unknown (anti-dsDNA and anti-Sm negative).",
     None, {"I5": "unknown"})

p = Pt("cc-026", "1982-07-07")
standard(p, ana_value=None, dsdna=None)
ana(p, VS("1:160"), day="2025-11-25")
p.obs(cc(LAB["dsdna"]), "2025-10-10", VQ(90, "IU/mL", "[IU]/mL"), interp="H", rr=RR(None, 25, "IU/mL", "[IU]/mL"))
case(p, "possible",
     "12-month serology edge: ANA 1:160 on 2025-11-25 (12 months + 1 day) is outside the I5 window; no autoantibody "
     "result within it.", None, {"I5": "unknown"})

p = Pt("cc-027", "1990-10-10")
standard(p, up=0.3, rbc=3)
p.obs(cc(text="SLEDAI-2K total score"), "2026-11-12", VINT(12), category="survey")
case(p, "possible",
     "A SLEDAI-2K of 12 recognised only by its text (low confidence) cannot meet I4a, and the lab bound is 4 "
     "(dsDNA 2 + low C3 2; 0.3 g/24h and 3 RBC/hpf score nothing).", None, {"I4a": "unknown"})

p = Pt("cc-028", "1986-02-14")
standard(p, c3="none", up=0.3, rbc=2, blood=False)
c3_normal(p)
c4_low(p)
cbc(p, wbc=(2.8, "10*3/uL", "10^3/uL"), plt=(90, "10*3/uL", "10^3/uL"), hgb=(11.8, "g/dL", "g/dL"))
case(p, "possible",
     "SLEDAI-2K lab bound 6 (dsDNA 2 + low C4 2 + platelets 90 1 + WBC 2.8 1) is below 7 and nothing is recorded: "
     "I4a unknown; WBC 2.8 and platelets 90 are not cytopenia for A-LAB.", None, {"I4a": "unknown"})

p = Pt("cc-029", "1980-06-01")
standard(p, creat_value=None)
p.obs(cc(LAB["creat"]), LAB_DAY, VQ(0.9, "mg%", ucum=False))
case(p, "possible", "The only creatinine within 8 weeks is in 'mg%', an unknown unit: E-SLN unknown.", None,
     {"E-SLN": "unknown"})

p = Pt("cc-030", "1974-09-23")
standard(p, iga_value=None)
p.obs(cc(LAB["iga"]), "2026-06-15", VQ(150, "IU/mL", "[IU]/mL"))
case(p, "possible", "The latest IgA is in IU/mL, which has no conversion to mg/dL: E-IGA unknown.", None,
     {"E-IGA": "unknown"})

p = Pt("cc-031", "1972-12-20")
standard(p)
p.condition(cc(coding(SCT, "69896004", "Rheumatoid arthritis")), "2016-05-01")
case(p, "possible",
     "Active rheumatoid arthritis: whether it needs systemic therapy is for a human (E-AI review → unknown).", None,
     {"E-AI": "unknown"})

p = Pt("cc-032", "1978-04-04", gender="male")
standard(p, creat_value=2.2)
p.condition(cc(coding(ICD10CM, "N18.6", "End stage renal disease")), "2024-02-01")
case(p, "possible",
     "ESRD (ICD-10-CM N18.6) is a low-confidence dialysis code: it makes E-SLN unknown, never met.", None,
     {"E-SLN": "unknown"})

p = Pt("cc-033", "1983-08-08")
standard(p, up=None, iga_value=None)
up24(p, 0.8, day="2026-08-01")
case(p, "possible",
     "No 24-h urine protein within 8 weeks (last on 2026-08-01) and no IgA ever: E-SLN and E-IGA unknown, not 'no'.",
     None, {"E-SLN": "unknown", "E-IGA": "unknown"})

p = Pt("cc-034", "1988-01-01")
standard(p, blood=False)
cbc(p, day="2026-08-18")
case(p, "possible", "The blood count is 100 days old (window 90 days): A-LAB unknown.", None, {"A-LAB": "unknown"})

p = Pt("cc-035", "1995-03-03")
standard(p, meds=False)
p.medreq(DRUG["hcq"], "2023-01-15", MG(200), 2)
case(p, "possible",
     "Hydroxychloroquine is the only therapy ever: one class, so I6a (>= 2 incl. an immunosuppressant) stays unknown.",
     None, {"I6a": "unknown"})

p = Pt("cc-036", "1991-11-11")
standard(p, meds=False)
p.medreq(DRUG["prednisone"], "2024-09-01", MG(10), 1)
p.medreq(DRUG["hcq"], "2023-01-15", MG(200), 2)
case(p, "possible",
     "Glucocorticoid + antimalarial: two classes but no immunosuppressant or biologic, so I6a stays unknown.", None,
     {"I6a": "unknown"})

p = Pt("cc-037", "1976-10-30")
standard(p, meds=False)
p.medreq(DRUG["prednisone"], "2025-06-01", text="泼尼松 按医嘱服用 (as directed)")
p.medreq(DRUG["mmf"], "2023-01-15", MG(1000), 2, end="2025-05-31", status="completed")
case(p, "possible",
     "Glucocorticoid-only therapy ordered 'as directed' (no dose, no frequency): the daily dose cannot be computed, so "
     "I6c, I6d (GC only: needs >= 7.5 mg/day) and the E-SLN sustained-dose test are unknown; past mycophenolate gives I6a.",
     None, {"I6c": "unknown", "I6d": "unknown", "E-SLN": "unknown"})

p = Pt("cc-038", "1984-05-19")
standard(p)
p.condition(cc(text="癫痫"), "2020-03-01")
p.condition(cc(text="肾移植状态"), "2018-09-01")
case(p, "possible",
     "Diagnoses recorded only as Chinese free text without codes, '癫痫' (epilepsy, active) and '肾移植状态' (kidney "
     "transplant status), match by text only (low confidence): E-CNS and E-TX unknown, never met.", None,
     {"E-CNS": "unknown", "E-TX": "unknown"})

p = Pt("cc-039", "1990-01-25")
standard(p, hbsag=False)
p.obs(cc(LAB["hbsag"]), "2026-09-15", VQ(0.35, "IU/mL", "[IU]/mL"))
p.obs(cc(LAB["hiv"]), "2026-09-15", VCC(coding(SCT, "82334004", "Indeterminate")), interp="IND")
p.obs(cc(coding(LOINC, "2118-8", "Choriogonadotropin (pregnancy test) [Presence] in Serum or Plasma")), "2026-11-10",
      VQ(12, "mIU/mL", "m[IU]/mL"))
case(p, "possible",
     "Tests that cannot be read as positive or negative: HBsAg 0.35 IU/mL and serum hCG 12 mIU/mL with neither "
     "interpretation nor referenceRange, HIV Ag/Ab 'Indeterminate': A-HBV, A-HIV and A-PREG unknown.", None,
     {"A-HBV": "unknown", "A-HIV": "unknown", "A-PREG": "unknown"})

p = Pt("cc-040", "1969-02-11")
standard(p)
p.condition(cc(coding(ICD10CM, "C50.911", "Malignant neoplasm of unspecified site of right female breast")), "2021",
            clinical="resolved", recorded="2021")
case(p, "possible",
     "Breast cancer with onset '2021' (year only), resolved: the year straddles the 5-year window edge (2021-11-26), "
     "so A-MAL is unknown.", None, {"A-MAL": "unknown"})

# =============================================================================================================
# INELIGIBLE (25 at 2026-11-26)
# =============================================================================================================
p = Pt("cc-041", "2008-11-27")
standard(p)
case(p, "ineligible", "Age 17 on the as-of date (18th birthday on 2026-11-27).", None, {"I2": "not_met"},
     next_day={"tier": "eligible", "reason": "18th birthday on 2026-11-27", "over": {"I2": "met"}})

p = Pt("cc-042", "1960-11-26")
standard(p)
case(p, "ineligible", "66th birthday on the as-of date: age 66 > 65.", None, {"I2": "not_met"})

p = Pt("cc-043", "1986-06-06", deceased=True)
standard(p)
case(p, "ineligible", "deceasedBoolean true; otherwise eligible.", None, deceased=True)

p = Pt("cc-044", "1979-02-28", deceased=dt("2026-11-20", "10:15:00"))
standard(p)
case(p, "ineligible", "deceasedDateTime 2026-11-20 (before the as-of date); otherwise eligible.", None, deceased=True)

p = Pt("cc-045", "1987-09-15")
standard(p, ana_value=VS("1:40"), dsdna="neg")
ana(p, VS("1:320"), day="2024-05-01")
p.obs(cc(LAB["ana_presence"]), SERO_DAY, VCC(NEG))
p.obs(cc(LAB["sm"]), SERO_DAY, VCC(NEG))
case(p, "ineligible",
     "Every autoantibody within 12 months is negative (ANA 1:40, ANA presence, anti-dsDNA, anti-Sm); the ANA 1:320 of "
     "2024 is outside the window: I5 not met.", None, {"I5": "not_met"})

p = Pt("cc-046", "1984-04-24")
standard(p, meds=False)
p.medreq(DRUG["methylprednisolone"], "2026-08-01", MG(40), 1, text="methylprednisolone 40 mg orally once daily")
p.medreq(DRUG["hcq"], "2024-03-01", MG(200), 2)
p.medreq(DRUG["mmf"], "2025-01-15", MG(1000), 2)
case(p, "ineligible",
     "Methylprednisolone 40 mg/day = 50 mg prednisone-equivalent > 40: I6c not met.", None, {"I6c": "not_met"})

p = Pt("cc-047", "1990-08-30")
standard(p, meds=False)
p.medreq(DRUG["prednisone"], "2025-03-01", MG(5), 1, text="prednisone 5 mg orally once daily")
p.medreq(DRUG["mmf"], "2023-01-10", MG(1000), 2, end="2025-02-28", status="completed")
case(p, "ineligible",
     "Glucocorticoid is the only current therapy at 5 mg/day (< 7.5): I6d not met (past mycophenolate still gives I6a).",
     None, {"I6d": "not_met"})

p = Pt("cc-048", "1982-10-14")
standard(p, up=None)
up24(p, 6500, "mg/(24.h)")
p.condition(cc(coding(SCT, "36402006", "SLE glomerulonephritis syndrome, WHO class IV")), "2026-10-15")
case(p, "ineligible", "Urine protein 6500 mg/24h = 6.5 g/24h > 6 within 8 weeks: E-SLN met.", None, {"E-SLN": "met"})

p = Pt("cc-049", "1977-01-08")
standard(p, creat_value=None)
creat_umol(p, 222)
case(p, "ineligible", "Creatinine 222 umol/L = 2.5107 mg/dL > 2.5 within 8 weeks: E-SLN met.", None, {"E-SLN": "met"})

p = Pt("cc-050", "1989-03-21")
standard(p)
creat(p, 3.0, day="2026-10-01")
case(p, "ineligible",
     "Creatinine 3.0 mg/dL exactly 56 days before the as-of date is inside the 8-week window: E-SLN met.", None,
     {"E-SLN": "met"},
     next_day={"tier": "eligible", "reason": "on 2026-11-27 the creatinine of 2026-10-01 is 57 days old, outside 8 weeks",
               "over": {"E-SLN": "not_met"}})

p = Pt("cc-051", "1973-05-16")
standard(p)
p.procedure(cc(coding(SCT, "302497006", "Hemodialysis")), dt("2026-11-03", "09:00:00"))
case(p, "ineligible", "Haemodialysis Procedure on 2026-11-03 (within 8 weeks): E-SLN met.", None, {"E-SLN": "met"})

p = Pt("cc-052", "1985-12-24")
standard(p, meds=False)
p.medreq(DRUG["prednisone"], "2025-03-01", MG(10), 1, end="2026-10-04", status="completed")
p.medreq(DRUG["prednisone"], "2026-10-05", MG(60), 2, end="2026-10-24", status="completed",
         text="prednisone 60 mg orally twice daily for 20 days")
p.medreq(DRUG["prednisone"], "2026-10-25", MG(20), 1, text="prednisone 20 mg orally once daily")
p.medreq(DRUG["hcq"], "2024-03-01", MG(200), 2)
p.medreq(DRUG["mmf"], "2025-01-15", MG(1000), 2)
case(p, "ineligible",
     "Prednisone 60 mg BID (120 mg/day) for 20 days within 8 weeks (>= 100 mg/day for >= 14 days): E-SLN met; "
     "the current 20 mg/day still meets I6c.", None, {"E-SLN": "met"})

p = Pt("cc-053", "1981-07-04", gender="male")
standard(p)
p.condition(cc(coding(SCT, "84757009", "Epilepsy")), "2012-06-01")
case(p, "ineligible", "Active epilepsy with onset in 2012 is ongoing during the 8-week window: E-CNS met.", None,
     {"E-CNS": "met"})

p = Pt("cc-054", "1992-04-09")
standard(p)
p.condition(cc(coding(ICD10CM, "R56.9", "Unspecified convulsions")), dt("2026-10-01", "09:00:00"),
            clinical="resolved", abatement=dt("2026-10-01", "11:00:00"), category="encounter-diagnosis")
case(p, "ineligible", "A seizure exactly 56 days before the as-of date (onset and abatement that day): E-CNS met.",
     None, {"E-CNS": "met"},
     next_day={"tier": "eligible", "reason": "on 2026-11-27 the seizure of 2026-10-01 is outside the 8-week window",
               "over": {"E-CNS": "not_met"}})

p = Pt("cc-055", "1998-02-02")
standard(p)
p.condition(cc(coding(SCT, "95644001", "Systemic lupus erythematosus encephalitis")), "2026-10-20")
case(p, "ineligible", "SLE encephalitis (SNOMED 95644001) with onset 2026-10-20: E-CNS met.", None, {"E-CNS": "met"})

p = Pt("cc-056", "1971-11-30")
standard(p)
p.procedure(cc(coding(SCT, "70536003", "Transplantation of kidney")), dt("2015-06-20", "09:00:00"))
case(p, "ineligible", "Kidney transplant in 2015 (transplant counts ever): E-TX met.", None, {"E-TX": "met"})

p = Pt("cc-057", "1993-06-13")
standard(p, iga_value=None)
iga(p, 0.09, "g/L")
case(p, "ineligible", "IgA 0.09 g/L = 9 mg/dL < 10: E-IGA met.", None, {"E-IGA": "met"})

p = Pt("cc-058", "1988-10-31")
standard(p, iga_value=None)
p.condition(cc(coding(ICD10CM, "D80.2", "Selective deficiency of immunoglobulin A [IgA]")), "2010-01-01")
case(p, "ineligible", "Selective IgA deficiency coded (ICD-10-CM D80.2) without an IgA result: E-IGA met.", None,
     {"E-IGA": "met"})

p = Pt("cc-059", "1980-09-09")
standard(p, hbsag=False)
p.obs(cc(LAB["hbsag"]), "2026-09-15", VCC(POS))
case(p, "ineligible", "HBsAg positive (SNOMED 10828004) within 12 months: A-HBV met.", None, {"A-HBV": "met"})

p = Pt("cc-060", "1975-03-27", gender="male")
standard(p)
p.obs(cc(LAB["hiv"], text="HIV抗原抗体联合检测"), "2025-03-01", VS("阳性"))
p.condition(cc(coding(ICD10CM, "B20", "Human immunodeficiency virus [HIV] disease")), "2025-03-20")
case(p, "ineligible", "HIV Ag/Ab screen reported '阳性' (positive), then HIV disease coded (ICD-10-CM B20): A-HIV met "
     "by the diagnosis; the reactive screen alone would leave it unknown (it needs a confirmatory test).", None,
     {"A-HIV": "met"})

p = Pt("cc-061", "1966-12-01")
standard(p)
p.condition(cc(coding(ICD10CM, "C50.911", "Malignant neoplasm of unspecified site of right female breast")),
            "2023-03-15", clinical="remission", abatement="2023-11-30")
case(p, "ineligible", "Breast cancer with onset in 2023 (within 5 years): A-MAL met.", None, {"A-MAL": "met"})

p = Pt("cc-062", "1995-08-05")
standard(p)
p.obs(cc(LAB["hcg"]), "2026-11-18", VCC(POS))
case(p, "ineligible", "Urine hCG positive on 2026-11-18 (latest within 30 days): A-PREG met.", None, {"A-PREG": "met"})

p = Pt("cc-063", "1983-04-01")
standard(p, blood=False)
cbc(p, hgb=(8.4, "g/dL", "g/dL"))
case(p, "ineligible", "Haemoglobin 8.4 g/dL = 84 g/L < 85: A-LAB met.", None, {"A-LAB": "met"})

p = Pt("cc-064", "1979-09-19")
standard(p, blood=False)
cbc(p, wbc=(2400, "/uL", "/uL"))
case(p, "ineligible", "WBC 2400 /uL = 2.4 x10^9/L < 2.5: A-LAB met.", None, {"A-LAB": "met"})

p = Pt("cc-065", "1987-12-03")
standard(p, blood=False)
p.obs(cc(LAB["wbc"]), LAB_DAY, VQ(4.9, "10^3/uL", "10*3/uL"))
p.obs(cc(LOCAL["plt"], text="血小板计数"), LAB_DAY, VQ(45, "10^9/L", ucum=False))
p.obs(cc(LAB["hgb"]), LAB_DAY, VQ(11.9, "g/dL"))
case(p, "ineligible", "Platelets 45 x10^9/L (local code PLT only, unit alias 10^9/L) < 50: A-LAB met.", None,
     {"A-LAB": "met"})

# --- Medication resources referenced by medicationReference ---------------------------------------------------
MEDICATIONS = [
    {"resourceType": "Medication", "id": "med-mmf-500mg", "meta": {"versionId": "1", "lastUpdated": "2023-02-01T12:00:00Z"},
     "code": cc(coding(RXNORM, "68149", "mycophenolate mofetil"), text="mycophenolate mofetil 500 mg tablet"),
     "form": cc(coding(SCT, "385055001", "Tablet"))},
    {"resourceType": "Medication", "id": "med-hcq-200mg", "meta": {"versionId": "1", "lastUpdated": "2023-05-01T12:00:00Z"},
     "code": cc(coding(RXNORM, "5521", "hydroxychloroquine"), text="hydroxychloroquine sulfate 200 mg tablet"),
     "form": cc(coding(SCT, "385055001", "Tablet"))},
]
BUNDLED_MEDICATION = {
    "resourceType": "Medication", "id": "med-aza-50mg", "meta": {"versionId": "1", "lastUpdated": "2025-09-01T12:00:00Z"},
    "code": cc(coding(RXNORM, "1256", "azathioprine"), text="azathioprine 50 mg tablet"),
    "form": cc(coding(SCT, "385055001", "Tablet"))}

# Which patients are delivered as Bundles instead of NDJSON.
BUNDLES = {
    "transaction-cc-005-cc-051.json": ("transaction", ["cc-005", "cc-051"]),
    "collection-cc-003-cc-063.json": ("collection", ["cc-003", "cc-063"]),
    "batch-cc-027.json": ("batch", ["cc-027"]),
    "nested-cc-008.json": ("nested", ["cc-008"]),
}


# =============================================================================================================
# Writers
# =============================================================================================================
def key(r):
    return f"{r['resourceType']}/{r['id']}"


def urn(r):
    return "urn:uuid:" + str(uuid.uuid5(UUID_NS, key(r)))


def dumps_line(r):
    return json.dumps(r, ensure_ascii=False, separators=(",", ":"))


def dumps_pretty(r):
    return json.dumps(r, ensure_ascii=False, indent=1) + "\n"


def dumps_bundle(b):
    """A Bundle with one entry per line: small, diff-friendly, still readable."""
    head = {k: v for k, v in b.items() if k != "entry"}
    text = dumps_line(head)[:-1] + ',"entry":[\n'
    text += ",\n".join(dumps_line(e) for e in b["entry"])
    return text + "\n]}\n"


def dumps_expected(doc):
    """Header members one per line; each patient as a short block with its criteria on one line."""
    lines_ = ["{"]
    items = list(doc.items())
    for i, (k, v) in enumerate(items):
        comma = "," if i < len(items) - 1 else ""
        if k != "patients":
            lines_.append(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}{comma}")
            continue
        lines_.append(f" {json.dumps(k)}: [")
        for j, p in enumerate(v):
            head = {a: b for a, b in p.items() if a not in ("criteria", "proves", "reason", "changed")}
            block = ["  {" + json.dumps(head, ensure_ascii=False)[1:-1] + ","]
            for a in ("proves", "reason", "changed"):
                if a in p:
                    block.append(f"   {json.dumps(a)}: {json.dumps(p[a], ensure_ascii=False)},")
            block.append(f'   "criteria": {json.dumps(p["criteria"], ensure_ascii=False)}}}'
                         + ("," if j < len(v) - 1 else ""))
            lines_.extend(block)
        lines_.append(" ]" + comma)
    lines_.append("}")
    return "\n".join(lines_) + "\n"


def rewrite_refs(node, mapping):
    """Returns a copy of node with every Reference.reference found in mapping replaced."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "reference" and isinstance(v, str) and v in mapping:
                out[k] = mapping[v]
            else:
                out[k] = rewrite_refs(v, mapping)
        return out
    if isinstance(node, list):
        return [rewrite_refs(x, mapping) for x in node]
    return node


def bundle_meta():
    return {"versionId": "1", "lastUpdated": "2026-11-25T20:00:00Z"}


def make_bundle(kind, resources, bid):
    if kind == "transaction":
        mapping = {key(r): urn(r) for r in resources}
        entries = [{"fullUrl": urn(r), "resource": rewrite_refs(r, mapping),
                    "request": {"method": "PUT", "url": key(r)}} for r in resources]
        return {"resourceType": "Bundle", "id": bid, "meta": bundle_meta(), "type": "transaction", "entry": entries}
    if kind == "batch":
        entries = [{"resource": r, "request": {"method": "PUT", "url": key(r)}} for r in resources]
        return {"resourceType": "Bundle", "id": bid, "meta": bundle_meta(), "type": "batch", "entry": entries}
    if kind == "collection":
        entries = [{"fullUrl": f"{SERVER}/{key(r)}", "resource": r} for r in resources]
        return {"resourceType": "Bundle", "id": bid, "meta": bundle_meta(), "type": "collection", "entry": entries}
    if kind == "nested":
        patient, rest = resources[0], resources[1:]
        inner = {"resourceType": "Bundle", "id": bid + "-history", "meta": bundle_meta(), "type": "collection",
                 "entry": [{"fullUrl": f"{SERVER}/{key(r)}", "resource": r} for r in rest]}
        return {"resourceType": "Bundle", "id": bid, "meta": bundle_meta(), "type": "collection",
                "entry": [{"fullUrl": f"{SERVER}/{key(patient)}", "resource": patient},
                          {"fullUrl": f"{SERVER}/Bundle/{inner['id']}", "resource": inner}]}
    raise ValueError(kind)


NDJSON_TYPES = ["Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement",
                "MedicationAdministration", "Procedure", "Medication"]


def check_cases():
    seen = set()
    for pt, exp, nd in CASES:
        assert pt.pid not in seen, pt.pid
        seen.add(pt.pid)
        crit = exp["criteria"]
        assert set(crit) == set(CRITERIA), pt.pid
        t = tier_of(crit, exp.get("deceased", False))
        assert t == exp["tier"], (pt.pid, t, exp["tier"])
        d = deciding_of(crit, t, exp.get("deceased", False))
        if exp["deciding"] is None:
            exp["deciding"] = d
        assert exp["deciding"] == d, (pt.pid, exp["deciding"], d)
        if nd:
            c2 = dict(crit)
            c2.update(nd["over"])
            t2 = tier_of(c2, exp.get("deceased", False))
            assert t2 == nd["tier"], (pt.pid, t2, nd["tier"])
            assert all(crit[c] != v for c, v in nd["over"].items()), pt.pid
        ids = [key(r) for r in pt.resources]
        assert len(ids) == len(set(ids)), pt.pid


ID_RE = re.compile(r"[A-Za-z0-9\-.]{1,64}")
DATE_RE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
DATETIME_RE = re.compile(r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2}))?)?)?")
INSTANT_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
DATE_FIELDS = {"birthDate": DATE_RE, "onsetDateTime": DATETIME_RE, "abatementDateTime": DATETIME_RE,
               "recordedDate": DATETIME_RE, "effectiveDateTime": DATETIME_RE, "issued": INSTANT_RE,
               "authoredOn": DATETIME_RE, "start": DATETIME_RE, "end": DATETIME_RE, "dateAsserted": DATETIME_RE,
               "performedDateTime": DATETIME_RE, "deceasedDateTime": DATETIME_RE, "lastUpdated": INSTANT_RE}


def check_resource(r, where):
    """The generated demo data must be valid FHIR R4 JSON: ids, dates, references (a cheap subset of validation)."""
    assert ID_RE.fullmatch(r["id"]), where
    assert r.get("meta", {}).get("versionId") and r["meta"].get("lastUpdated"), where

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in DATE_FIELDS and isinstance(v, str):
                    assert DATE_FIELDS[k].fullmatch(v), (where, path + k, v)
                    datetime.date.fromisoformat(v[:10]) if len(v) >= 10 else None
                if k == "reference":
                    assert re.fullmatch(r"(Patient|Medication)/[A-Za-z0-9\-.]{1,64}", v), (where, v)
                if k == "value" and not isinstance(v, (int, float)) and path.endswith("Quantity."):
                    raise AssertionError((where, path))
                if isinstance(v, str):
                    assert v == v.strip() and v, (where, path + k)
                walk(v, path + k + ".")
        elif isinstance(node, list):
            assert node, (where, path)
            for x in node:
                walk(x, path)
    walk(r, r["resourceType"] + ".")


def write(out_dir):
    check_cases()
    for pt, _, _ in CASES:
        for r in pt.resources:
            check_resource(r, pt.pid)
    for r in MEDICATIONS + [BUNDLED_MEDICATION]:
        check_resource(r, r["id"])
    in_bundle = {pid: name for name, (_, pids) in BUNDLES.items() for pid in pids}
    by_pid = {pt.pid: pt for pt, _, _ in CASES}
    files = {}

    per_type = {t: [] for t in NDJSON_TYPES}
    for pt, _, _ in CASES:
        if pt.pid in in_bundle:
            continue
        for r in pt.resources:
            per_type[r["resourceType"]].append(r)
    per_type["Medication"].extend(MEDICATIONS)
    for t in NDJSON_TYPES:
        files[f"ndjson/{t}.ndjson"] = "".join(dumps_line(r) + "\n" for r in per_type[t]).encode()

    for name, (kind, pids) in BUNDLES.items():
        res = []
        for pid in pids:
            res.extend(by_pid[pid].resources)
        if kind == "transaction":
            res.append(BUNDLED_MEDICATION)
        bid = "cc-samples-" + name[:-5]
        files[f"bundles/{name}"] = dumps_bundle(make_bundle(kind, res, bid)).encode()

    # Golden expectations.
    exp_list = []
    for pt, exp, _ in CASES:
        e = {"patient": pt.pid, "tier": exp["tier"], "deciding": exp["deciding"],
             "file": "bundles/" + in_bundle[pt.pid] if pt.pid in in_bundle else "ndjson",
             "proves": exp["proves"], "criteria": {c: exp["criteria"][c] for c in CRITERIA}}
        exp_list.append(e)
    counts = {t: sum(1 for e in exp_list if e["tier"] == t) for t in ("eligible", "possible", "ineligible")}
    expected = {
        "format": "cohort-finder/expected@1",
        "trial": "NCT07177911",
        "trial_definition": "mappings/trials/nct07177911.json (version 2026-11-29.2)",
        "as_of": AS_OF,
        "input": ["fhir-samples/ndjson", "fhir-samples/bundles"],
        "adjudication": "by hand from docs/trial-definition.md, criterion by criterion; see fhir-samples/README.md",
        "counts": counts,
        "patients": exp_list,
    }
    files["expected.json"] = dumps_expected(expected).encode()

    changed = []
    for pt, exp, nd in CASES:
        if not nd:
            continue
        c2 = dict(exp["criteria"])
        c2.update(nd["over"])
        t2 = tier_of(c2, exp.get("deceased", False))
        changed.append({"patient": pt.pid, "tier": t2, "tier_on_" + AS_OF: exp["tier"], "reason": nd["reason"],
                        "deciding": deciding_of(c2, t2, exp.get("deceased", False)),
                        "changed": {c: [exp["criteria"][c], c2[c]] for c in CRITERIA if c2[c] != exp["criteria"][c]},
                        "criteria": {c: c2[c] for c in CRITERIA}})
    all_t = {e["patient"]: e["tier"] for e in exp_list}
    for c in changed:
        all_t[c["patient"]] = c["tier"]
    expected2 = {
        "format": "cohort-finder/expected-delta@1",
        "trial": "NCT07177911",
        "as_of": NEXT_DAY,
        "base": "expected.json (as of " + AS_OF + ")",
        "note": "Only the patients whose outcome changes when the as-of date moves from 2026-11-26 to 2026-11-27 are "
                "listed; every other patient keeps exactly the tier and criteria of expected.json. 'changed' gives "
                "[outcome on 2026-11-26, outcome on 2026-11-27] for each criterion that changes.",
        "counts": {t: sum(1 for v in all_t.values() if v == t) for t in ("eligible", "possible", "ineligible")},
        "patients": changed,
    }
    files["expected-2026-11-27.json"] = dumps_expected(expected2).encode()

    files.update(malformed_files())
    files["README.md"] = readme(exp_list, expected2)

    for rel, data in sorted(files.items()):
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return sorted(files)


# =============================================================================================================
# Malformed inputs (fhir-samples/malformed/): each file has one defect
# =============================================================================================================
def mf_patient(pid):
    return {"resourceType": "Patient", "id": pid, "meta": {"versionId": "1", "lastUpdated": "2026-11-20T02:00:00Z"},
            "gender": "female", "birthDate": "1985-01-01"}


def mf_obs(oid, pid="mf-001", code=None, value=None, **extra):
    r = {"resourceType": "Observation", "id": oid, "meta": {"versionId": "1", "lastUpdated": "2026-11-10T12:00:00Z"},
         "status": "final", "code": cc(code or LAB["creat"]), "subject": {"reference": "Patient/" + pid},
         "effectiveDateTime": "2026-11-10T08:30:00+08:00", "issued": "2026-11-10T16:00:00+08:00"}
    r.update(value if value is not None else VQ(0.9, "mg/dL"))
    r.update(extra)
    return r


def lines(*objs):
    return b"".join((o if isinstance(o, bytes) else dumps_line(o).encode()) + b"\n" for o in objs)


def malformed_files():
    M = {}
    E = []

    def add(name, data, defect, issues, read, rejected, note=None, **more):
        M["malformed/" + name] = data
        e = {"file": name, "defect": defect, "issues": issues, "read": read, "rejected": rejected}
        if note:
            e["note"] = note
        e.update(more)
        E.append(e)

    good_p = mf_patient("mf-001")
    good_o = mf_obs("mf-001-obs-ok")

    bad = dumps_line(mf_obs("mf-001-obs-bad"))[:-1].encode()  # closing brace removed
    add("invalid-json-line.ndjson", lines(good_p, bad, good_o),
        "line 2 is not valid JSON (its closing brace is missing); lines 1 and 3 are fine",
        [{"kind": "json-syntax", "count": 1, "where": "line 2"}], 2, 1)

    b = make_bundle("collection", [good_p, mf_obs("mf-001-obs-1"), mf_obs("mf-001-obs-2")], "mf-truncated")
    text = dumps_pretty(b).encode()
    cut = text.index(b'"mf-001-obs-2"')
    add("truncated-bundle.json", text[:cut],
        "a collection Bundle cut off in the middle of its third entry",
        [{"kind": "json-syntax", "count": 1}], 2, 1,
        note="The two complete entries before the cut are read (the reader streams entries); what follows the cut is "
             "lost and cannot be attributed, so every patient's data is incomplete for the run.")

    deep = b'{"resourceType":"Observation","id":"mf-001-obs-deep","status":"final","extension":' + b"[" * 10000 + \
           b"]" * 10000 + b"}"
    add("deep-nesting.ndjson", lines(good_p, deep, good_o),
        "line 2 nests 10,000 arrays (beyond the parser's depth limit of 100)",
        [{"kind": "json-syntax", "count": 1, "where": "line 2"}], 2, 1)

    dup = b'{"resourceType":"Observation","id":"mf-001-obs-dup","status":"final","code":{"coding":[{"system":' \
          b'"http://loinc.org","code":"2160-0"}]},"subject":{"reference":"Patient/mf-001"},"effectiveDateTime":' \
          b'"2026-11-10","valueQuantity":{"value":3.6,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":' \
          b'"mg/dL"},"status":"entered-in-error"}'
    add("duplicate-keys.ndjson", lines(good_p, dup),
        "an Observation with \"status\" twice (final, then entered-in-error)",
        [{"kind": "json-syntax", "count": 1, "where": "line 2"}], 1, 1,
        note="Duplicate keys reject the whole resource (RELIABILITY D2): neither status may be believed.")

    dupb = make_bundle("collection", [good_p, mf_obs("mf-001-obs-1"), mf_obs("mf-001-obs-3")], "mf-dup-bundle")
    t = dumps_pretty(dupb).encode()
    t = t.replace(b'"id": "mf-001-obs-1",', b'"id": "mf-001-obs-1",\n    "status": "cancelled",', 1)
    add("duplicate-keys-bundle.json", t,
        "the second entry of a collection Bundle has \"status\" twice",
        [{"kind_any_of": ["json-syntax", "bad-bundle-entry"], "count": 1, "where": "entry[1]"}], 2, 1,
        read_min=1,
        note="Reported as bad-bundle-entry when the reader rejects just that entry (then 2 resources are read), or as "
             "json-syntax when it stops at the duplicate (then only entry[0] is read).")

    nan = b'{"resourceType":"Observation","id":"mf-001-obs-nan","status":"final","code":{"coding":[{"system":' \
          b'"http://loinc.org","code":"2160-0"}]},"subject":{"reference":"Patient/mf-001"},"effectiveDateTime":' \
          b'"2026-11-10","valueQuantity":{"value":NaN,"unit":"mg/dL"}}'
    inf = nan.replace(b"NaN", b"Infinity").replace(b"obs-nan", b"obs-inf")
    add("nan-infinity.ndjson", lines(good_p, nan, inf),
        "valueQuantity.value is NaN on line 2 and Infinity on line 3 (not JSON)",
        [{"kind": "json-syntax", "count": 2, "where": "lines 2, 3"}], 1, 2)

    utf = dumps_line(mf_obs("mf-001-obs-utf8", code=coding(LOINC, "2160-0", "Creatinine XX"))).encode()
    utf = utf.replace(b"Creatinine XX", b"Creatinine \xff\xfe\xc3")
    add("invalid-utf8.ndjson", lines(good_p, utf),
        "a display string on line 2 contains the bytes FF FE C3 (invalid UTF-8)",
        [{"kind": "json-syntax", "count": 1, "where": "line 2"}], 1, 1)

    add("bom.ndjson", b"\xef\xbb\xbf" + lines(good_p, good_o),
        "the file starts with a UTF-8 byte order mark (EF BB BF) before line 1",
        [{"kind": "json-syntax", "count": 1, "where": "line 1"}], 1, 1,
        note="RFC 8259 forbids emitting a BOM; RELIABILITY D1 asks for a clean rejection. Only line 1 is affected.")

    nul = dumps_line(mf_obs("mf-001-obs-nul", code=coding(LOINC, "2160-0", "Creatinine"))).encode()
    nul = nul.replace(b'"Creatinine"', b'"Creat\x00inine"')
    add("nul-byte.ndjson", lines(good_p, nul),
        "a raw NUL byte inside a string on line 2",
        [{"kind": "json-syntax", "count": 1, "where": "line 2"}], 1, 1)

    sur = dumps_line(mf_obs("mf-001-obs-sur", code=coding(LOINC, "2160-0", "Creatinine"))).encode()
    sur = sur.replace(b'"Creatinine"', b'"Creatinine \\ud800"')
    add("lone-surrogate.ndjson", lines(good_p, sur),
        "the escape \\ud800 (a lone high surrogate) inside a string on line 2",
        [{"kind": "json-syntax", "count": 1, "where": "line 2"}], 1, 1)

    trail = dumps_line(mf_obs("mf-001-obs-trail")).encode() + b" garbage"
    add("trailing-garbage.ndjson", lines(good_p, trail),
        "text after the JSON object on line 2",
        [{"kind": "json-syntax", "count": 1, "where": "line 2"}], 1, 1)

    no_rt = mf_obs("mf-001-obs-nort")
    del no_rt["resourceType"]
    add("missing-resource-type.ndjson", lines(good_p, no_rt),
        "line 2 is an Observation without resourceType",
        [{"kind": "missing-resource-type", "count": 1, "where": "line 2"}], 1, 1)

    no_id = mf_obs("x")
    del no_id["id"]
    add("missing-id.ndjson", lines(good_p, no_id),
        "line 2 is an Observation without id",
        [{"kind": "missing-id", "count": 1, "where": "line 2"}], 1, 1)

    add("invalid-id-path.ndjson", lines(good_p, mf_obs("../x")),
        "an Observation whose id is '../x' (breaks [A-Za-z0-9-.]{1,64}; a path traversal attempt)",
        [{"kind": "invalid-id", "count": 1, "where": "line 2"}], 1, 1)

    add("invalid-id-too-long.ndjson", lines(good_p, mf_obs("a" * 65)),
        "an Observation whose id has 65 characters (limit 64)",
        [{"kind": "invalid-id", "count": 1, "where": "line 2"}], 1, 1)

    add("impossible-date.ndjson", lines(good_p, mf_obs("mf-001-obs-feb30", effectiveDateTime="2023-02-30")),
        "effectiveDateTime 2023-02-30 (no such day)",
        [{"kind": "invalid-date", "count": 1, "where": "Observation.effectiveDateTime"}], 2, 0,
        note="The Observation is read but its effective date is unusable; it falls back to issued (2026-11-10), so "
             "it must never be placed on a guessed day such as 2023-03-02.")

    no_zone = mf_obs("mf-001-obs-nozone", issued="2026-11-10T16:00:00")
    del no_zone["effectiveDateTime"]
    add("instant-without-zone.ndjson", lines(good_p, no_zone),
        "Observation.issued (an instant) '2026-11-10T16:00:00' has no time zone, and there is no effective[x]",
        [{"kind": "invalid-date", "count": 1, "where": "Observation.issued"}], 2, 0,
        note="The Observation is read without any usable date, so no windowed criterion may use it.")

    add("quantity-value-string.ndjson",
        lines(good_p, mf_obs("mf-001-obs-str", value={"valueQuantity": {"value": "3.1", "unit": "mg/dL",
                                                                            "system": UCUM, "code": "mg/dL"}})),
        "valueQuantity.value is the JSON string \"3.1\" instead of a number",
        [{"kind": "wrong-type", "count": 1, "where": "Observation.valueQuantity.value"}], 2, 0,
        note="The value is unusable (never parsed from the string): a creatinine criterion using it is unknown.")

    add("wrong-system.ndjson",
        lines(good_p, mf_obs("mf-001-obs-sys", code=coding(SCT, "2160-0",
                                                            "Creatinine [Mass/volume] in Serum or Plasma"),
                             value=VQ(3.4, "mg/dL"))),
        "a creatinine result whose coding has the right LOINC code and display but system http://snomed.info/sct",
        [], 2, 0,
        note="No data issue is required, but the Observation must NOT be matched to creatinine (codings match on "
             "system + code, never on display): creatinine stays absent for mf-001.")

    add("unknown-unit.ndjson",
        lines(good_p, mf_obs("mf-001-obs-xyz", value=VQ(3.4, "xyz", ucum=False))),
        "a creatinine result in unit 'xyz'",
        [{"kind": "unit-unconvertible", "count": 1, "where": "Observation.valueQuantity.unit",
          "stage": "evaluation"}], 2, 0,
        note="Reported when a criterion reads creatinine (E-SLN), not when the file is read; that criterion is unknown.")

    add("foreign-reference.ndjson",
        lines(good_p, mf_obs("mf-001-obs-foreign", subject={"reference": "https://other-server.example.com/fhir/Patient/mf-001"})),
        "the Observation's subject is an absolute reference to another FHIR server",
        [{"kind": "unattributed-resource", "count": 1, "where": "Observation.subject"}], 2, 0, attributed=1,
        note="A Patient on another server is not Patient/mf-001 of this data set: the reference is never dereferenced "
             "(RELIABILITY H1) and the Observation is attributed to nobody ('attributed' counts the Patient only).")

    nb = make_bundle("collection", [good_p, good_o], "mf-no-resource")
    nb["entry"].insert(1, {"fullUrl": f"{SERVER}/Observation/mf-001-obs-missing"})
    add("entry-without-resource.json", dumps_pretty(nb).encode(),
        "a collection Bundle whose second entry has a fullUrl but no resource",
        [{"kind": "bad-bundle-entry", "count": 1, "where": "entry[1]"}], 2, 0,
        note="The other two entries are read.")

    ns = make_bundle("collection", [good_p, good_o], "mf-not-object")
    ns["entry"].insert(1, "Observation/mf-001-obs-string")
    add("entry-not-object.json", dumps_pretty(ns).encode(),
        "a collection Bundle whose second entry is a JSON string, not an object",
        [{"kind": "bad-bundle-entry", "count": 1, "where": "entry[1]"}], 2, 1)

    inner2 = {"resourceType": "Bundle", "id": "mf-nested-2", "type": "searchset",
              "entry": [{"fullUrl": f"{SERVER}/Observation/mf-001-obs-n2", "resource": mf_obs("mf-001-obs-n2")}]}
    inner1 = {"resourceType": "Bundle", "id": "mf-nested-1", "type": "collection",
              "entry": [{"fullUrl": f"{SERVER}/Observation/mf-001-obs-n1", "resource": mf_obs("mf-001-obs-n1")},
                        {"resource": inner2}]}
    outer = {"resourceType": "Bundle", "id": "mf-nested", "type": "collection",
             "entry": [{"fullUrl": f"{SERVER}/Patient/mf-001", "resource": good_p}, {"resource": inner1}]}
    add("nested-bundle.json", dumps_pretty(outer).encode(),
        "Bundles nested three deep (collection > collection > searchset); not an error",
        [], 3, 0, note="Every resource at every level is read: Patient/mf-001 and two Observations.")

    long_o = mf_obs("mf-001-obs-long", note=[{"text": "x" * 100000}])
    add("very-long-string.ndjson", lines(good_p, long_o),
        "an Observation.note text of 100,000 characters (a 100 KB line)",
        [], 2, 0,
        note="Within the parser's 16 MiB string limit: read normally; logs and reports must not echo it in full. "
             "For the 64 MiB line limit (kind line-too-long) run `python3 generate.py --huge FILE`; that file is "
             "too big to commit.")

    add("empty.ndjson", b"", "an empty NDJSON file (zero lines)", [], 0, 0,
        note="Not an error: an NDJSON file may hold no resources.")
    add("empty.json", b"", "an empty .json file (zero bytes)", [{"kind": "json-syntax", "count": 1}], 0, 1,
        note="An empty text is not a JSON document.")

    add("array-root.json", dumps_pretty([good_p, good_o]).encode(),
        "a .json file whose root is a JSON array of resources instead of a resource or Bundle",
        [{"kind": "json-syntax", "count": 1}], 0, 1,
        note="The root of a FHIR JSON file must be an object; nothing is read.")

    add("wrong-type-subject.ndjson",
        lines(good_p, mf_obs("mf-001-obs-subj", subject="Patient/mf-001")),
        "Observation.subject is a string, not a Reference object",
        [{"kind": "wrong-type", "count": 1, "where": "Observation.subject"},
         {"kind": "unattributed-resource", "count": 1, "where": "Observation.subject"}], 2, 0, attributed=1,
        note="The Observation is read but cannot be attributed to a patient.")

    add("unknown-modifier-extension.ndjson",
        lines(good_p, mf_obs("mf-001-obs-mod", value=VQ(3.4, "mg/dL"), modifierExtension=[
            {"url": "http://hospital.example.org/fhir/StructureDefinition/result-retracted", "valueBoolean": True}])),
        "a creatinine of 3.4 mg/dL carrying an unknown modifierExtension",
        [{"kind": "unknown-modifier-extension", "count": 1, "where": "Observation.modifierExtension"}], 2, 0,
        note="Read, flagged, and never used as evidence (RELIABILITY D4).")

    E.append({"file": "(not committed) huge-line.ndjson", "generated_by": "python3 fhir-samples/generate.py --huge FILE",
              "defect": "line 1 is a single 65 MiB Observation (beyond the reader's 64 MiB line limit); line 2 is a "
                        "valid Patient",
              "issues": [{"kind": "line-too-long", "count": 1, "where": "line 1"}], "read": 1, "rejected": 1,
              "note": "The skipped line cannot be attributed, so decisions for every patient depending on any type "
                      "become unknown for the run."})
    expected = {
        "format": "cohort-finder/malformed-expected@1",
        "comment": "One entry per file in this folder. 'issues' lists the data-issue kinds the file reader (or, where "
                   "'stage' says so, the evaluation) must report; 'read' is how many resources must still be read from "
                   "the file, 'rejected' how many records are rejected. 'attributed' (when given) is how many of the read "
                   "resources belong to a patient. None of these files is part of the demo run.",
        "files": E,
    }
    M["malformed/expected.json"] = (json.dumps(expected, ensure_ascii=False, indent=1) + "\n").encode()
    return M


# =============================================================================================================
# README.md: the prose is hand-written; the tables between the GENERATED markers are rewritten from the cases
# =============================================================================================================
def replace_between(text, name, body):
    begin, end = f"<!-- BEGIN GENERATED {name} -->", f"<!-- END GENERATED {name} -->"
    i, j = text.index(begin) + len(begin), text.index(end)
    return text[:i] + "\n" + body + "\n" + text[j:]


def readme(exp_list, expected2):
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        text = f.read()
    rows = ["| id | tier | deciding | file | what it proves |", "| --- | --- | --- | --- | --- |"]
    for e in exp_list:
        rows.append(f"| {e['patient']} | {e['tier']} | {', '.join(e['deciding']) or '–'} | "
                    f"{e['file'].replace('bundles/', '')} | {e['proves'].replace('|', '/')} |")
    counts = {t: sum(1 for e in exp_list if e["tier"] == t) for t in ("eligible", "possible", "ineligible")}
    rows.append("")
    rows.append(f"Counts on {AS_OF}: {counts['eligible']} eligible, {counts['possible']} possible, "
                f"{counts['ineligible']} ineligible ({len(exp_list)} patients).")
    rows2 = [f"| id | {AS_OF} | {NEXT_DAY} | why |", "| --- | --- | --- | --- |"]
    for c in expected2["patients"]:
        rows2.append(f"| {c['patient']} | {c['tier_on_' + AS_OF]} | {c['tier']} | {c['reason']} |")
    c2 = expected2["counts"]
    rows2.append("")
    rows2.append(f"Counts on {NEXT_DAY}: {c2['eligible']} eligible, {c2['possible']} possible, "
                 f"{c2['ineligible']} ineligible.")
    cov = ["| criterion | met | not_met | unknown | manual |", "| --- | --- | --- | --- | --- |"]
    for c in CRITERIA:
        by = {o: [e["patient"] for e in exp_list if e["criteria"][c] == o] for o in ("met", "not_met", "unknown", "manual")}
        most = max(by, key=lambda o: len(by[o]))
        cells = []
        for o in ("met", "not_met", "unknown", "manual"):
            ids = by[o]
            if not ids:
                cells.append("–")
            elif o == most and len(ids) == len(exp_list):
                cells.append(f"all ({len(ids)})")
            elif o == most and len(ids) > 8:
                cells.append(f"all others ({len(ids)})")
            else:
                cells.append(", ".join(i[3:] for i in ids))
        cov.append(f"| {c} | " + " | ".join(cells) + " |")
    text = replace_between(text, "coverage", "\n".join(cov))
    text = replace_between(text, "patients", "\n".join(rows))
    text = replace_between(text, "next-day", "\n".join(rows2))
    return text.encode()


def huge(path):
    """A single NDJSON line longer than the reader's 64 MiB line limit (kind line-too-long), then a good line."""
    with open(path, "wb") as f:
        head = b'{"resourceType":"Observation","id":"mf-huge","status":"final","note":[{"text":"'
        f.write(head)
        chunk = b"x" * (1 << 20)
        for _ in range(65):
            f.write(chunk)
        f.write(b'"}]}\n')
        f.write(dumps_line(mf_patient("mf-002")).encode() + b"\n")


def server_batch(path):
    """One batch Bundle of PUTs with every demo resource (NDJSON and Bundles alike) for loading a FHIR server."""
    check_cases()
    entries = []
    for r in MEDICATIONS + [BUNDLED_MEDICATION]:
        entries.append({"resource": r, "request": {"method": "PUT", "url": key(r)}})
    for pt, _, _ in CASES:
        for r in pt.resources:
            entries.append({"resource": r, "request": {"method": "PUT", "url": key(r)}})
    with open(path, "wb") as f:
        f.write(dumps_bundle({"resourceType": "Bundle", "type": "batch", "entry": entries}).encode())


def main(argv):
    if len(argv) > 2 and argv[1] == "--server-batch":
        server_batch(argv[2])
        return 0
    if len(argv) > 1 and argv[1] == "--huge":
        huge(argv[2])
        return 0
    if len(argv) > 1 and argv[1] == "--check":
        tmp = tempfile.mkdtemp(prefix="fhir-samples-")
        try:
            names = write(tmp)
            bad = [n for n in names if not os.path.exists(os.path.join(HERE, n))
                   or not filecmp.cmp(os.path.join(HERE, n), os.path.join(tmp, n), shallow=False)]
            for n in bad:
                print("differs:", n)
            print(f"{len(names)} files checked, {len(bad)} differ")
            return 1 if bad else 0
        finally:
            shutil.rmtree(tmp)
    names = write(HERE)
    print(f"wrote {len(names)} files under {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
