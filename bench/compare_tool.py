#!/usr/bin/env python3
"""Compares cohort-finder's full-trial results with the simplified query's patient set (bench/README.md).

    python3 bench/compare_tool.py --results OUT/results.ndjson --expected IDS.txt --conditions DATA/Condition.ndjson

T        = the tool's candidates: tier eligible or possible (the full trial definition).
T_strict = the tool's decisions restricted to the criteria the simplified query has: not deceased, and I2, I3, I5
           `met`, and E-SLN, E-IGA not `met`. On the generated data (bench/README.md says why) T_strict must equal the
           simplified set S exactly; T differs from S by design, and the reasons are counted. The tool's I3 is also
           met by the EULAR/ACR classification, which the simplified query does not have: a patient whose SLE
           diagnosis is only recorded as a possibility (the tool leaves it to a human, the query does not count it)
           can meet I3 that way, so T_strict also asks for the query's own SLE diagnosis rule (--conditions).
Prints "key value" lines; exits 1 if T_strict differs from S.
"""
import argparse
import collections
import hashlib
import json
import re
import sys

import reference  # bench/reference.py, next to this file (Python puts the script's folder on sys.path)

# Lines that can matter: candidates, or I5 met (T_strict needs it). Everything else is skipped unparsed.
I5_MET = re.compile(r'"id":"I5","kind":"inclusion","label":"[^"]*","outcome":"met"')
CANDIDATE = re.compile(r'^\{"patient":"[^"]*","tier":"(eligible|possible)"')


def sle_diagnosed(path):
    """Patients with an SLE diagnosis as the simplified query's rule 3 counts it (reference.sle_patient)."""
    out = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if "55464009" not in line and "M32.1" not in line:  # most lines, skipped unparsed
                continue
            pid = reference.sle_patient(json.loads(line))
            if pid:
                out.add(pid)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--conditions", required=True, help="Condition.ndjson of the data (the SLE diagnosis rule)")
    a = ap.parse_args()
    sle = sle_diagnosed(a.conditions)
    with open(a.expected, encoding="utf-8") as f:
        s = {line.strip() for line in f if line.strip()}
    tiers = collections.Counter()
    t, t_strict = set(), set()
    why_not_t = {}  # patient -> deciding criteria, for patients of S the tool does not list
    with open(a.results, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'\{"patient":"((?:[^"\\]|\\.)*)","tier":"(\w+)"', line)
            if not m:
                print("error unparsable results line", file=sys.stderr)
                return 2
            pid, tier = m.group(1), m.group(2)
            tiers[tier] += 1
            if tier in ("eligible", "possible"):
                t.add(pid)
            if not (CANDIDATE.match(line) or I5_MET.search(line) or pid in s):
                continue
            r = json.loads(line)
            out = {c["id"]: c["outcome"] for c in r["criteria"]}
            if (not r.get("deceased") and out.get("I2") == "met" and out.get("I3") == "met" and out.get("I5") == "met"
                    and out.get("E-SLN") != "met" and out.get("E-IGA") != "met" and pid in sle):
                t_strict.add(pid)
            if pid in s and tier == "ineligible":
                why_not_t[pid] = r.get("deciding", [])
    for k in ("eligible", "possible", "ineligible"):
        print(f"tool_{k}", tiers.get(k, 0))
    print("S", len(s))
    print("T", len(t))
    print("S_and_T", len(s & t))
    print("S_not_T", len(s - t))
    print("T_not_S", len(t - s))
    reasons = collections.Counter(d for ds in why_not_t.values() for d in ds)
    print("S_not_T_deciding", ",".join(f"{k}:{v}" for k, v in sorted(reasons.items())) or "-")
    text = "".join(p + "\n" for p in sorted(t_strict))
    print("T_strict", len(t_strict))
    print("T_strict_sha256", hashlib.sha256(text.encode()).hexdigest())
    agree = t_strict == s
    print("T_strict_equals_S", "yes" if agree else "no")
    if not agree:
        print("only_in_S", " ".join(sorted(s - t_strict)[:20]))
        print("only_in_T_strict", " ".join(sorted(t_strict - s)[:20]))
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
