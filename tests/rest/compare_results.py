#!/usr/bin/env python3
"""Compares two results.ndjson files (numbers in text by value, see canon()): same patients, tiers, ranks, scores, criterion outcomes, reasons and evidence.
Evidence 'location' says where a resource was read (file line or server page) and is the only field ignored, and
with --ignore-versions every 'versionId' too (a server that sends none).
Usage: compare_results.py A B [--candidates-only] [--ignore-versions]"""
import json
import re
import sys

# A FHIR server may re-serialise decimals (Medplum's JavaScript numbers turn 3.0 into 3), so numbers inside
# text are compared by value: trailing zeros after a decimal point are dropped.
_NUM = re.compile(r"(\d+)\.(\d*?)0+(?!\d)")


def canon(x):
    if isinstance(x, str):
        return _NUM.sub(lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""), x)
    if isinstance(x, list):
        return [canon(v) for v in x]
    if isinstance(x, dict):
        return {k: canon(v) for k, v in x.items()}
    return x


def drop_versions(x):
    if isinstance(x, list):
        return [drop_versions(v) for v in x]
    if isinstance(x, dict):
        return {k: drop_versions(v) for k, v in x.items() if k != "versionId"}
    return x


def load(path, candidates_only, ignore_versions=False):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if candidates_only and r["tier"] == "ineligible":
                continue
            for c in r["criteria"]:
                # (An ineligible patient's line carries only the deciding criteria's evidence unless the run
                # had --ineligible-detail full.)
                for e in c.get("evidence", []):
                    e.pop("location", None)
            for e in r.get("deceased_evidence", []):
                e.pop("location", None)
            if ignore_versions:
                r = drop_versions(r)
            out[r["patient"]] = canon(r)
    return out


def main():
    a_path, b_path = sys.argv[1], sys.argv[2]
    cand = "--candidates-only" in sys.argv
    iv = "--ignore-versions" in sys.argv
    a, b = load(a_path, cand, iv), load(b_path, cand, iv)
    problems = []
    for p in sorted(set(a) | set(b)):
        if p not in a or p not in b:
            problems.append(f"{p}: only in {'first' if p in a else 'second'}")
            continue
        if a[p] != b[p]:
            for k in sorted(set(a[p]) | set(b[p])):  # a key on one side only is a difference too
                if a[p].get(k) != b[p].get(k):
                    ca_list, cb_list = a[p].get(k), b[p].get(k)
                    if k == "criteria" and isinstance(ca_list, list) and isinstance(cb_list, list):
                        if len(ca_list) != len(cb_list):
                            problems.append(f"{p} criteria: {len(ca_list)} != {len(cb_list)} criteria")
                        for ca, cb in zip(ca_list, cb_list):
                            if ca != cb:
                                problems.append(f"{p} {ca['id']}: {json.dumps(ca)[:300]} != {json.dumps(cb)[:300]}")
                    else:
                        problems.append(f"{p} {k}: {a[p].get(k)} != {b[p].get(k)}")
    for x in problems[:40]:
        print(x)
    print(f"compared {len(a)} and {len(b)} patients: {len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
