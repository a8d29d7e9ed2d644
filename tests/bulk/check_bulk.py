#!/usr/bin/env python3
"""Checks one run of tests/bulk/bulk_driver: its exit code and summary, its outputs, its log, and the request record
of tests/fault-server/bulk_faults.js. Prints one "ok:"/"FAILED:" line per check; exits 1 if any failed.

Outcomes (--expect):
  complete    exit 0, manifest.json "complete": true, no incomplete type or patient;
  incomplete  exit 5, manifest.json "complete": false, exactly --incomplete-types incomplete for every patient (run
              level), and nothing presented as decided that the files do not support: every criterion outcome is the
              file source's or "unknown", and no patient eligible or possible from files is ineligible;
  failed      exit 4, nothing exported (no manifest.json, no results.ndjson).
"""
import argparse
import json
import os
import subprocess
import sys


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="run folder: summary.json, out/, stderr, record.jsonl")
    ap.add_argument("--rc", type=int, required=True)
    ap.add_argument("--expect", required=True, choices=["complete", "incomplete", "failed"])
    ap.add_argument("--incomplete-types", default="")
    ap.add_argument("--files", help="results.ndjson of the file source")
    ap.add_argument("--compare", help="tests/rest/compare_results.py: results must equal --files")
    ap.add_argument("--baseline", help="summary.json of a clean run: same resources read per type")
    ap.add_argument("--read-delta", default="", help="TYPE=N: read_by_type differs from the baseline by N there")
    ap.add_argument("--issue-kind", action="append", default=[], help="a kind data_issues.ndjson must contain")
    ap.add_argument("--error-text", default="", help="text stderr must contain")
    ap.add_argument("--log-excludes", action="append", default=[], help="text stderr must not contain")
    ap.add_argument("--issues-include", default="", help="text data_issues.ndjson must contain")
    ap.add_argument("--max-log-line", type=int, default=400, help="longest stderr line allowed")
    ap.add_argument("--accepted-kickoffs", type=int, help="kick-offs answered 202 (record)")
    ap.add_argument("--query-count", type=int, help="requests the source lists for the audit log (summary)")
    ap.add_argument("--query-includes", action="append", default=[], help="text one of those requests holds")
    ap.add_argument("--deletes", type=int, help="DELETEs of the status URL (record)")
    ap.add_argument("--faults", type=int, help="status answers the proxy faulted (record)")
    ap.add_argument("--file-faults", default="", help="MIN-MAX file answers the proxy faulted (record)")
    ap.add_argument("--min-poll-gap", type=float, help="seconds between consecutive status GETs, at least")
    ap.add_argument("--foreign-requests", default="", help="LISTENER=N requests to a foreign origin")
    ap.add_argument("--file-auth", choices=["all", "none"], help="Authorization on the proxy's file requests")
    ap.add_argument("--status-auth", choices=["all"], help="Authorization on every kick-off and status request")
    ap.add_argument("--file-requests", default="", help="TYPE=N requests for that type's file")
    ap.add_argument("--ranged-requests", default="", help="TYPE=N requests for the rest of that type's file")
    ap.add_argument("--ranged-sent", type=int, default=206, help="what the server answered them (206, or 200)")
    ap.add_argument("--summary-field", action="append", default=[], help="FIELD=JSON value in summary.json")
    ap.add_argument("--counter", action="append", default=[], help="NAME=JSON value in summary.json counters")
    a = ap.parse_args()

    failures = 0

    def check(name, ok, detail=""):
        nonlocal failures
        print(("ok: " if ok else "FAILED: ") + name + ("" if ok or not detail else f" ({detail})"))
        if not ok:
            failures += 1

    d = a.dir
    summary = json.load(open(os.path.join(d, "summary.json"))) if os.path.exists(os.path.join(d, "summary.json")) else {}
    stderr = open(os.path.join(d, "stderr"), encoding="utf-8", errors="replace").read()
    out = os.path.join(d, "out")
    manifest_path = os.path.join(out, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else None
    issues = load_jsonl(os.path.join(out, "data_issues.ndjson"))
    record = load_jsonl(os.path.join(d, "record.jsonl"))

    want_rc = {"complete": 0, "incomplete": 5, "failed": 4}[a.expect]
    check(f"exit code {want_rc}", a.rc == want_rc, f"got {a.rc}; {stderr[-600:]}")
    if a.expect == "failed":
        check("nothing exported", manifest is None and not os.path.exists(os.path.join(out, "results.ndjson")))
    else:
        check("manifest.json written", manifest is not None)
        want_complete = a.expect == "complete"
        if manifest is not None:
            check(f"manifest complete={want_complete}", manifest.get("complete") is want_complete,
                  json.dumps(manifest.get("incomplete"))[:300])
        types = sorted(t for t in a.incomplete_types.split(",") if t)
        check(f"incomplete types {types or 'none'}", sorted(summary.get("incomplete_types", [])) == types,
              f"got {summary.get('incomplete_types')}")
        if a.expect == "complete":
            check("no patient incomplete", not summary.get("incomplete_patients"), str(summary.get("incomplete_patients"))[:200])
    if a.compare and a.files:
        r = subprocess.run([sys.executable, a.compare, a.files, os.path.join(out, "results.ndjson")],
                           capture_output=True, text=True)
        check("results equal the file source", r.returncode == 0, r.stdout[-600:])
    if a.expect == "incomplete" and a.files:
        files = {r["patient"]: r for r in load_jsonl(a.files)}
        got = {r["patient"]: r for r in load_jsonl(os.path.join(out, "results.ndjson"))}
        bad = []
        for p, r in got.items():
            f = files.get(p)
            if not f:
                bad.append(f"{p}: not in the file results")
                continue
            if f["tier"] != "ineligible" and r["tier"] == "ineligible":
                bad.append(f"{p}: {f['tier']} from files, ineligible here")
            for cf, cr in zip(f["criteria"], r["criteria"]):
                if cr["outcome"] not in (cf["outcome"], "unknown"):
                    bad.append(f"{p} {cr['id']}: {cf['outcome']} from files, {cr['outcome']} here")
        check("every decision as from files or unknown; no candidate lost", not bad, "; ".join(bad[:5]))
        check("every file patient present", set(files) == set(got), f"{len(files)} vs {len(got)}")
    if a.baseline:
        base = json.load(open(a.baseline))["read_by_type"]
        want = dict(base)
        if a.read_delta:
            t, n = a.read_delta.split("=")
            want[t] = want.get(t, 0) + int(n)
        check("resources read per type as expected", summary.get("read_by_type") == want,
              f"got {summary.get('read_by_type')}, want {want}")
    kinds = {i.get("kind") for i in issues}
    for k in a.issue_kind:
        check(f"data issue '{k}' reported", k in kinds, f"kinds: {sorted(kinds)}")
    if a.error_text:
        check(f"stderr names '{a.error_text}'", a.error_text in stderr, stderr[-400:])
    for x in a.log_excludes:
        check(f"'{x}' not in the log", x not in stderr)
    if a.issues_include:
        check(f"'{a.issues_include}' in data_issues.ndjson", any(a.issues_include in json.dumps(i) for i in issues))
    lines = stderr.splitlines()
    longest = max((len(line) for line in lines), default=0)
    check(f"log lines at most {a.max_log_line} characters, no control characters",
          longest <= a.max_log_line and not any(c in stderr for c in "\t\x1b\r"), f"longest {longest}")
    for f in a.summary_field:
        k, v = f.split("=", 1)
        check(f"summary {k} = {v}", summary.get(k) == json.loads(v), f"got {json.dumps(summary.get(k))}")
    for f in a.counter:
        k, v = f.split("=", 1)
        got = summary.get("counters", {}).get(k)
        check(f"counter {k} = {v}", got == json.loads(v), f"got {json.dumps(got)}")

    queries = summary.get("queries", [])
    if a.query_count is not None:
        check(f"{a.query_count} request(s) listed for the audit log", len(queries) == a.query_count, f"got {queries}")
    for t in a.query_includes:
        check(f"a listed request holds '{t}'", any(t in q for q in queries), f"got {queries}")
    if a.accepted_kickoffs is not None:
        n = sum(1 for r in record if r["kind"] == "kickoff" and r["sent"] == 202)
        check(f"{a.accepted_kickoffs} kick-off(s) accepted", n == a.accepted_kickoffs, f"got {n}")
    if a.deletes is not None:
        n = sum(1 for r in record if r["kind"] == "status" and r["method"] == "DELETE")
        check(f"{a.deletes} DELETE(s) of the job", n == a.deletes, f"got {n}")
    if a.faults is not None:
        n = sum(1 for r in record if r["kind"] == "status" and r["fault"])
        check(f"{a.faults} faulted status answers", n == a.faults, f"got {n}")
    if a.file_faults:
        lo, hi = (int(x) for x in a.file_faults.split("-"))
        n = sum(1 for r in record if r["kind"] == "file" and r["fault"])
        check(f"{lo}-{hi} faulted file answers", lo <= n <= hi, f"got {n}")
    if a.min_poll_gap is not None:
        t = [r["t_ms"] for r in record if r["kind"] == "status" and r["method"] == "GET"]
        gaps = [(b - x) / 1000 for x, b in zip(t, t[1:])]
        check(f"status polls at least {a.min_poll_gap} s apart", len(t) >= 2 and min(gaps) >= a.min_poll_gap,
              f"gaps {gaps}")
    if a.foreign_requests:
        for spec in a.foreign_requests.split(","):
            lst, n = spec.split("=")
            got = [r for r in record if r["listener"] == lst]
            check(f"{n} request(s) to {lst}", len(got) == int(n), f"got {len(got)}")
        leaked = [r for r in record if r["listener"] != "proxy" and r["auth"]]
        check("no Authorization sent to another origin", not leaked)
    if a.file_auth:
        files = [r for r in record if r["listener"] == "proxy" and r["kind"] in ("file", "fault-file")]
        want = a.file_auth == "all"
        check(f"Authorization on {'every' if want else 'no'} file request", files and all(r["auth"] == want for r in files),
              f"{sum(r['auth'] for r in files)} of {len(files)}")
    if a.status_auth:
        srv = [r for r in record if r["listener"] == "proxy" and r["kind"] in ("kickoff", "status")]
        check("Authorization on every kick-off and status request", srv and all(r["auth"] for r in srv))
    if a.file_requests:
        t, n = a.file_requests.split("=")
        got = [r for r in record if r["kind"] == "file" and r["path"].endswith(f"/{t}.ndjson")]
        check(f"{n} request(s) for the {t} file", len(got) == int(n), f"got {len(got)}")
    if a.ranged_requests:
        t, n = a.ranged_requests.split("=")
        got = [r for r in record if r["kind"] == "file" and r["path"].endswith(f"/{t}.ndjson") and r.get("range")]
        check(f"{n} Range request(s) for the {t} file", len(got) == int(n), f"got {len(got)}: {got}")
        check(f"each answered {a.ranged_sent}", all(r["sent"] == a.ranged_sent for r in got),
              f"sent {[r['sent'] for r in got]}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
