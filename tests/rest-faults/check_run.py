#!/usr/bin/env python3
"""Checks one fault scenario of rest_faults_test.sh: the run's exit code, outputs, logs and the proxy's request record.

Expected outcomes (--expect):
  complete    retried and complete: exit 0, manifest complete, results equal the file source (compare_results.py),
              resources read per type equal the clean REST run (nothing lost, nothing duplicated);
  incomplete  a clear error and nothing exported as complete: exit 5, manifest "complete": false, exactly the
              expected types incomplete for the failed query's patients, a "query failed" log line naming the
              redacted URL, every criterion either as from files or "unknown", no patient who is eligible or
              possible from files ineligible, no candidate the files do not support;
  failed      the run stops: exit 4, nothing exported (no manifest.json, no results.ndjson), the redacted URL named.
Always: no crash or hang, no request to a foreign origin (and none with Authorization), every request to the proxy
carried Authorization and stayed under the FHIR base path, no token in any log or output file, the log holds no
patient ids or query values.

Prints one "ok:"/"FAILED:" line per check and appends one JSON line of figures to --metrics.
"""
import argparse
import json
import os
import re
import subprocess
import sys

RANK = {"eligible": 2, "possible": 1, "ineligible": 0}


def load_results(path):
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            out[r["patient"]] = r
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--expect", required=True, choices=["complete", "incomplete", "failed"])
    ap.add_argument("--mode", required=True, choices=["seed", "population"])
    ap.add_argument("--rc", type=int, required=True)
    ap.add_argument("--seconds", type=float, default=0.0)
    ap.add_argument("--dir", required=True, help="scenario folder: out/, stdout, stderr, record.jsonl, proxy.log")
    ap.add_argument("--files", required=True, help="results.ndjson of the file source")
    ap.add_argument("--baseline", help="manifest.json of the clean REST run in the same mode")
    ap.add_argument("--compare", required=True, help="tests/rest/compare_results.py")
    ap.add_argument("--token", required=True)
    ap.add_argument("--proxy-port", required=True)
    ap.add_argument("--incomplete-types", default="", help="comma-separated types expected incomplete")
    ap.add_argument("--fault-type", default="", help="resource type of the failed query (named in the error)")
    ap.add_argument("--error-text", default="", help="text the failure message must contain")
    ap.add_argument("--attempts", type=int, help="exact number of requests for the first faulted target")
    ap.add_argument("--min-gap", type=float, help="seconds: after each fault, the same target is re-requested no sooner")
    ap.add_argument("--max-gap", type=float, help="seconds: ... and no later")
    ap.add_argument("--min-faults", type=int, default=1)
    ap.add_argument("--ignore-versions", action="store_true", help="the scenario strips meta.versionId")
    ap.add_argument("--older-copies", default="", help="type whose every resource the scenario sends twice, the "
                    "copy older: read twice as often as the clean run, each copy counted once as a duplicate")
    ap.add_argument("--issue-kind", default="", help="a kind data_issues.ndjson must contain")
    ap.add_argument("--log-excludes", default="", help="text that must not appear in stdout/stderr")
    ap.add_argument("--metrics", required=True)
    a = ap.parse_args()

    d = a.dir
    out = os.path.join(d, "out")
    failures = []
    notes = []

    def check(name, ok, detail=""):
        (notes if ok else failures).append(name + (f" ({detail})" if detail else ""))

    stdout = open(os.path.join(d, "stdout"), encoding="utf-8", errors="replace").read()
    stderr = open(os.path.join(d, "stderr"), encoding="utf-8", errors="replace").read()
    records = [json.loads(l) for l in open(os.path.join(d, "record.jsonl"), encoding="utf-8")] \
        if os.path.exists(os.path.join(d, "record.jsonl")) else []
    proxy_recs = [r for r in records if r["listener"] == "proxy"]
    foreign = [r for r in records if r["listener"] != "proxy"]
    faults = [r for r in proxy_recs if r["fault"]]

    # --- always ------------------------------------------------------------------------------------------------------
    crashed = a.rc not in (0, 4, 5)
    check("no crash or hang", not crashed, f"exit code {a.rc}" + (" = timeout" if a.rc == 124 else ""))
    check("faults were injected", len(faults) >= a.min_faults, f"{len(faults)} faults")
    check("the proxy reached the server every time", not any(r.get("error") for r in proxy_recs))
    foreign_auth = sum(1 for r in foreign if r["auth"])
    check("0 requests to foreign origins", not foreign, f"{len(foreign)} requests, {foreign_auth} with Authorization")
    check("every proxy request carried Authorization", proxy_recs and all(r["auth"] for r in proxy_recs),
          f"{sum(1 for r in proxy_recs if not r['auth'])} without")
    outside = [r["path"] for r in proxy_recs if not r["path"].startswith("/fhir/")]
    check("every request stayed under the FHIR base path", not outside, ", ".join(sorted(set(outside)))[:200])
    # P9: a search for given patients asks for its first page as POST [type]/_search, the ids in the body; only
    # next links (as the server wrote them) may carry them in a URL.
    firsts = [r for r in proxy_recs if r.get("phase") == "data" and r["page"] == 1]
    if a.mode == "seed" and a.expect != "failed":  # a failed seed search leaves no patient searches
        in_url = [r for r in firsts if r["method"] != "POST" or r["ids_in_url"]]
        check("first pages of patient searches are POST _search, no ids in the URL", firsts and not in_url,
              f"{len(in_url)} of {len(firsts)} not")
    leaks = []
    scan = [os.path.join(d, "stdout"), os.path.join(d, "stderr"), os.path.join(d, "record.jsonl"),
            os.path.join(d, "proxy.log")]
    if os.path.isdir(out):
        scan += [os.path.join(out, n) for n in os.listdir(out)]
    for p in scan:
        if os.path.isfile(p) and a.token.encode() in open(p, "rb").read():
            leaks.append(os.path.basename(p))
    check("no token in logs or outputs", not leaks, ", ".join(leaks))
    log = stdout + stderr
    check("no patient ids in the log", not re.search(r"\bcc-\d{3}\b", log))
    check("no query values in the log", not re.search(r"[?&][A-Za-z_:.-]+=(?!\*)[^\s&\"]", stderr),
          (re.search(r"[?&][A-Za-z_:.-]+=(?!\*)[^\s&\"]+", stderr) or [""])[0][:80])
    check("no Authorization value in the log", "bearer " not in log.lower())
    bad_json = [l for l in stderr.splitlines() if l.strip() and not l.startswith("cohort-finder: ")
                and not _is_json(l)]
    check("log lines are JSON", not bad_json, bad_json[0][:120] if bad_json else "")
    if a.log_excludes:
        check("server diagnostics not in the log", a.log_excludes not in log)

    # Attempts and timing per faulted target.
    if faults and a.attempts is not None:
        t = faults[0]["target"]
        n = sum(1 for r in proxy_recs if r["target"] == t)
        check(f"{a.attempts} request(s) for the faulted page", n == a.attempts, f"{n} requests")
    if faults and (a.min_gap is not None or a.max_gap is not None):
        gaps = []
        for f in faults:
            later = [r for r in proxy_recs if r["target"] == f["target"] and r["n"] > f["n"]]
            if later:
                gaps.append((min(later, key=lambda r: r["t_ms"])["t_ms"] - f["t_ms"]) / 1000)
        check("every fault was retried", len(gaps) == len(faults), f"{len(gaps)} of {len(faults)}")
        if a.min_gap is not None:
            check(f"retry waited >= {a.min_gap} s", gaps and min(gaps) >= a.min_gap,
                  "gaps " + ", ".join(f"{g:.2f}" for g in gaps))
        if a.max_gap is not None:
            check(f"retry came <= {a.max_gap} s", gaps and max(gaps) <= a.max_gap,
                  "gaps " + ", ".join(f"{g:.2f}" for g in gaps))

    manifest = None
    mpath = os.path.join(out, "manifest.json")
    if os.path.exists(mpath):
        manifest = json.load(open(mpath, encoding="utf-8"))
    files = load_results(a.files)
    rest = load_results(os.path.join(out, "results.ndjson"))
    lost = duplicated = silent = 0

    # --- expected outcome --------------------------------------------------------------------------------------------
    if a.expect == "complete":
        check("exit 0", a.rc == 0, f"exit {a.rc}")
        check("manifest complete", manifest is not None and manifest.get("complete") is True
              and not manifest.get("incomplete"))
        cmd = [sys.executable, a.compare, a.files, os.path.join(out, "results.ndjson")]
        if a.mode == "seed":
            cmd.append("--candidates-only")
        if a.ignore_versions:
            cmd.append("--ignore-versions")
        cmp = subprocess.run(cmd, capture_output=True, text=True) if rest else None
        check("results equal the file source", cmp is not None and cmp.returncode == 0,
              (cmp.stdout.strip().splitlines() or [""])[-1] if cmp else "no results")
        if manifest and a.baseline:
            base = json.load(open(a.baseline, encoding="utf-8"))["resources"]["read"]
            got = manifest["resources"]["read"]
            copies = 0
            if a.older_copies:
                copies = base.get(a.older_copies, 0)
                check("every older copy read", got.get(a.older_copies, 0) == 2 * copies,
                      f"{got.get(a.older_copies, 0)} read, clean run {copies}")
                got = dict(got, **{a.older_copies: got.get(a.older_copies, 0) - copies})
            for t in set(base) | set(got):
                lost += max(0, base.get(t, 0) - got.get(t, 0))
                duplicated += max(0, got.get(t, 0) - base.get(t, 0))
            duplicated += manifest["resources"].get("duplicates", 0) - copies
            check("nothing lost", lost == 0, f"{lost} resources")
            check("nothing duplicated", duplicated == 0, f"{duplicated} resources")
        if not a.rc == 0:
            # A run that should have completed but did not is not silent: it said so. Count only what it claimed.
            pass

    elif a.expect == "incomplete":
        check("exit 5", a.rc == 5, f"exit {a.rc}")
        check("manifest says incomplete", manifest is not None and manifest.get("complete") is False)
        expected_types = set(t for t in a.incomplete_types.split(",") if t)
        listed = {}  # type -> set of patients ("*" = all)
        for item in (manifest or {}).get("incomplete", []):
            m = re.match(r"(.+) \((?:patient (.+)|all patients)\)$", item)
            if m:
                listed.setdefault(m.group(1), set()).add(m.group(2) or "*")
        check("the expected types are incomplete", set(listed) == expected_types,
              f"listed {sorted(listed)}, expected {sorted(expected_types)}")
        # Which patients the failed query covered: every patient (population) or the seed chunk (all seeds here).
        affected = set()
        for t, ps in listed.items():
            if a.mode == "population":
                check(f"{t} incomplete for all patients", ps == {"*"}, f"{len(ps)} entries")
                affected = set(rest)
            else:
                check(f"{t} incomplete for every seed patient", ps == set(rest), f"{len(ps)} of {len(rest)} patients")
                affected |= ps
        fail_lines = [l for l in stderr.splitlines() if "query failed: " + a.fault_type in l]
        urls = (f"GET http://127.0.0.1:{a.proxy_port}/fhir/{a.fault_type}",
                f"POST http://127.0.0.1:{a.proxy_port}/fhir/{a.fault_type}/_search")
        check("the log names the failed query and its redacted URL",
              any(u in l for l in fail_lines for u in urls), (fail_lines or ["no 'query failed' line"])[0][:200])
        if a.error_text:
            check(f"the error says '{a.error_text}'", any(a.error_text in l for l in fail_lines))
        issues = _issues(out)
        check("data_issues.ndjson records the failed query", any(i.get("kind") == "query-failed" for i in issues))
        # D10: incompleteness turns decisions into "unknown", never into "not met". Which criteria read which types
        # comes from the evidence of the file run; the medication types count as one (any of them incomplete makes
        # medication criteria unknown).
        meds = {"MedicationRequest", "MedicationStatement", "MedicationAdministration", "Medication"}
        reads = {}
        for fr in files.values():
            for c in fr["criteria"]:
                for e in c["evidence"]:
                    t = e["resource"].split("/")[0]
                    reads.setdefault(c["id"], set()).update(meds if t in meds else {t})
        failed_types = set(listed) | (meds if set(listed) & meds else set())
        changed_not_unknown, demoted, false_candidates, by_absence = [], [], [], []
        turned_unknown = 0
        for p, r in rest.items():
            f = files.get(p)
            if f is None:
                false_candidates.append(p + " (not in the file results)")
                continue
            fc = {c["id"]: c for c in f["criteria"]}
            for c in r["criteria"]:
                before = fc.get(c["id"], {}).get("outcome")
                if c["outcome"] != before and c["outcome"] != "unknown":
                    changed_not_unknown.append(f"{p} {c['id']} {before}->{c['outcome']}")
                if p in affected and c["outcome"] == "unknown" and before != "unknown":
                    turned_unknown += 1
                # "not met" with no evidence means "nothing found": not a decision a failed type may make.
                if (p in affected and c["outcome"] == "not_met" and not c["evidence"]
                        and reads.get(c["id"], set()) & failed_types):
                    by_absence.append(f"{p} {c['id']}")
            if RANK[f["tier"]] >= 1 and r["tier"] == "ineligible":
                demoted.append(f"{p} {f['tier']}->ineligible")
            if r["tier"] == "eligible" and f["tier"] != "eligible":
                false_candidates.append(f"{p} {f['tier']}->eligible")
            if p not in affected and _canon(r) != _canon(f):
                changed_not_unknown.append(f"{p} changed but its data were complete")
        if a.mode == "population":
            missing = sorted(set(files) - set(rest))
            check("every patient still evaluated", not missing, ", ".join(missing[:5]))
        silent = len(changed_not_unknown) + len(demoted) + len(false_candidates) + len(by_absence)
        check("criteria only turned 'unknown'", not changed_not_unknown, "; ".join(changed_not_unknown[:4]))
        check("no eligible/possible patient became ineligible", not demoted, "; ".join(demoted[:4]))
        check("no new candidates", not false_candidates, "; ".join(false_candidates[:4]))
        check("no 'not met' for lack of data of a failed type", not by_absence, "; ".join(by_absence[:4]))
        check("the failure reached the decisions (criteria turned 'unknown')", turned_unknown > 0,
              f"{turned_unknown} criteria")

    else:  # failed
        check("exit 4", a.rc == 4, f"exit {a.rc}")
        exported = [n for n in ("manifest.json", "results.ndjson", "candidates.csv")
                    if os.path.exists(os.path.join(out, n))]
        check("nothing exported", not exported, ", ".join(exported))
        urls = (f"GET http://127.0.0.1:{a.proxy_port}/fhir/{a.fault_type}",
                f"POST http://127.0.0.1:{a.proxy_port}/fhir/{a.fault_type}/_search")
        errors = [l for l in stderr.splitlines() if l.startswith("cohort-finder: ")]
        check("the error names the redacted URL", any(u in l for l in errors for u in urls))

    if a.issue_kind:
        check(f"data_issues.ndjson has '{a.issue_kind}'", any(i.get("kind") == a.issue_kind for i in _issues(out)))

    for n in failures:
        print(f"  FAILED: {a.scenario}: {n}")
    with open(a.metrics, "a", encoding="utf-8") as m:
        m.write(json.dumps({"scenario": a.scenario, "expect": a.expect, "passed": not failures,
                            "checks": len(notes) + len(failures), "failed_checks": len(failures),
                            "requests": len(proxy_recs), "faults": len(faults), "crash": int(crashed),
                            "lost": lost, "duplicated": duplicated, "silent_partial": silent,
                            "foreign_requests": len(foreign), "foreign_auth": foreign_auth,
                            "token_leaks": len(leaks), "seconds": round(a.seconds, 2)}) + "\n")
    return 1 if failures else 0


def _is_json(line):
    try:
        json.loads(line)
        return True
    except ValueError:
        return False


def _issues(out):
    p = os.path.join(out, "data_issues.ndjson")
    if not os.path.exists(p):
        return []
    return [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]


def _canon(r):
    r = json.loads(json.dumps(r))
    for c in r["criteria"]:
        for e in c["evidence"]:
            e.pop("location", None)
    for e in r.get("deceased_evidence", []):
        e.pop("location", None)
    # Numbers in text may be re-serialised by the server (see compare_results.py).
    return re.sub(r"(\d+)\.(\d*?)0+(?!\d)", lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""),
                  json.dumps(r, sort_keys=True))


if __name__ == "__main__":
    sys.exit(main())
