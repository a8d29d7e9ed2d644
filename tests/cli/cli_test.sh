#!/usr/bin/env bash
# End-to-end: the README's demo run, explain, help and exit codes, through the real executable.
set -u
bin=$(readlink -f "$1")
repo=$(readlink -f "$2")
tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
pass=0
fail=0
check() {  # check NAME CONDITION...
  local name="$1"
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
}

cd "$tmp"
out=$("$bin" run --as-of 2026-11-26 2>&1)
rc=$?
check "demo run exits 0" test "$rc" -eq 0
check "demo run says where the ranked list is" grep -q "ranked candidates: $tmp/cohort-output/candidates.csv" <<<"$out"
for f in candidates.csv results.ndjson attrition.csv data_issues.ndjson manifest.json; do
  check "output $f written" test -s "cohort-output/$f"
  check "output $f is private (0600)" test "$(stat -c %a "cohort-output/$f")" = 600
done
check "no temporary files left" test -z "$(ls cohort-output | grep '\.tmp$')"
check "candidates.csv ranks eligible first" bash -c "sed -n 2p cohort-output/candidates.csv | grep -q '^1,\"cc-[0-9]*\",eligible,'"
# CRITERIA.md section 6: within a tier, more criteria in favour first, then the SLEDAI-2K bound, then EULAR/ACR.
check "candidates are ranked lexicographically (in favour, SLEDAI-2K, EULAR/ACR)" python3 -c '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1], encoding="utf-8-sig")))
key = lambda r: (r["tier"] != "eligible", -int(r["criteria_in_favour"]), -int(r["sledai2k_lab_bound"] or 0),
                 -int(r["eular_acr_lab_bound"] or 0))
assert len(rows) > 10 and [key(r) for r in rows] == sorted(key(r) for r in rows), [(r["patient_id"], key(r)) for r in rows]
' cohort-output/candidates.csv
check "manifest records the trial hash" grep -q '"sha256":"[0-9a-f]\{64\}"' cohort-output/manifest.json
check "manifest fingerprints every output (sha256, bytes, lines)" python3 "$repo/tests/support/check_manifest_outputs.py" \
  cohort-output/manifest.json candidates.csv results.ndjson attrition.csv data_issues.ndjson report.html group.json
cp cohort-output/manifest.json tampered.json
sed -i 's/"bytes":\([0-9]\)/"bytes":9\1/' tampered.json && cp tampered.json cohort-output/tampered-manifest.json
check "... and the check notices a wrong size" bash -c "! python3 '$repo/tests/support/check_manifest_outputs.py' cohort-output/tampered-manifest.json >/dev/null"
rm cohort-output/tampered-manifest.json
# explain names resource ids, values, units and dates behind each criterion.
ex=$("$bin" explain cc-049 --out cohort-output)
check "explain exits 0" test $? -eq 0
check "explain shows the deciding creatinine with conversion" grep -q "umol/L / 88.42" <<<"$ex"
check "explain names the resource" grep -q "Observation/" <<<"$ex"
check "explain of an unknown patient fails" bash -c "! '$bin' explain nobody --out cohort-output 2>/dev/null"
check "explain of a deceased patient names the Patient resource and its date" \
  grep -q "Patient/cc-044 (version 1) dated 2026-11-20: deceasedDateTime" <<<"$("$bin" explain cc-044 --out cohort-output)"
# An ineligible patient's line details the criteria that excluded them; the others show their outcome only,
# unless --ineligible-detail full asks for every criterion (then candidates' lines are unchanged).
line=$(grep '"patient":"cc-049"' cohort-output/results.ndjson)
check "an ineligible line details its deciding criterion" grep -q '"id":"E-SLN","kind":"exclusion","label":"[^"]*","outcome":"met","reason":"creatinine' <<<"$line"
check "an ineligible line gives other criteria's outcome only" grep -q '{"id":"I2","outcome":"met"}' <<<"$line"
check "explain says which criteria have no details" grep -q "the others show" <<<"$ex"
"$bin" run --as-of 2026-11-26 --out full --ineligible-detail full >/dev/null 2>&1
check "--ineligible-detail full exits 0" test $? -eq 0
check "--ineligible-detail full details every criterion" grep -q '"patient":"cc-049".*"id":"I2","kind":"inclusion","label":"[^"]*","outcome":"met","reason":"age' full/results.ndjson
check "--ineligible-detail full leaves candidates' lines alone" \
  cmp -s <(grep -v '"tier":"ineligible"' full/results.ndjson) <(grep -v '"tier":"ineligible"' cohort-output/results.ndjson)
check "--ineligible-detail full changes no decision" cmp -s full/attrition.csv cohort-output/attrition.csv
check "manifest.json records the detail (deciding)" grep -q '"ineligible_detail":"deciding"' cohort-output/manifest.json
check "manifest.json records the detail (full)" grep -q '"ineligible_detail":"full"' full/manifest.json
"$bin" run --as-of 2026-11-26 --out bad-detail --ineligible-detail some >/dev/null 2>&1
check "--ineligible-detail of another value exits 2" test $? -eq 2
# evidence and --check name the codes the maps mark "verified": false.
check "evidence says a creatinine code is not verified" grep -q '"rule":"concepts.json creatinine: loinc 2160-0 (code not verified)"' cohort-output/results.ndjson
chk=$("$bin" run --check true 2>&1)
check "--check exits 0" test $? -eq 0
"$bin" run --check yes >/dev/null 2>&1
check "a yes/no option takes only true or false (exit 2)" test $? -eq 2
COHORT_FHIR_TOKEN=secret "$bin" run --as-of 2026-11-26 --out env-token-out >/dev/null 2>&1
check "a token in the environment is refused whatever the source (exit 2)" test $? -eq 2
"$bin" run --check true --source http://ehr.example.org/fhir >/dev/null 2>&1
check "--check refuses plain http to another machine (exit 2), as the run would" test $? -eq 2
"$bin" run --check true --source https://ehr.example.org/fhir --ca-file /nonexistent/ca.pem >/dev/null 2>&1
check "--check refuses a CA file it cannot read (exit 2)" test $? -eq 2
# feedback: a status it does not know is named; an id in no result of the last run is recorded with a warning.
fb_state=$(mktemp -d) && "$bin" run --as-of 2026-11-26 --out fb-out --state "$fb_state" >/dev/null 2>&1
err=$("$bin" feedback cc-001 --status bogus --state "$fb_state" 2>&1)
check "feedback: an unknown status exits 2" test $? -eq 2
check "... saying which" grep -q "not 'bogus'" <<<"$err"
err=$("$bin" feedback cc-999 --status screened --state "$fb_state" 2>&1)
check "feedback: an id not in the last run is recorded (exit 0)" test $? -eq 0
check "... with a warning" grep -q "patient 'cc-999' is not in the last run" <<<"$err"
"$bin" explain cc-001 --state "$fb_state" --run abc >/dev/null 2>&1
check "explain --run takes a number (exit 2)" test $? -eq 2
"$bin" history --state "$fb_state/none" >/dev/null 2>&1
check "history on a folder without a state database exits 4" test $? -eq 4
rm -rf "$fb_state"
check "--check counts the unverified codes" grep -q '^mappings: [0-9]* codes are marked "verified": false' <<<"$chk"
check "--check lists an unverified code" grep -qx '  concepts.json creatinine: loinc 2160-0 (code not verified)' <<<"$chk"
check "--check does not list a verified code" bash -c "! grep -q '14682-9' <<<\"\$1\"" _ "$chk"
# RELIABILITY H4: output and state folders are private; a symlinked or world-writable one is refused.
mkdir -m 755 open-out
"$bin" run --as-of 2026-11-26 --out open-out >/dev/null 2>&1
check "an existing 0755 output folder is made 0700" test "$(stat -c %a open-out)" = 700
mkdir -m 700 real-out && ln -s real-out link-out
err=$("$bin" run --as-of 2026-11-26 --out link-out 2>&1)
check "a symlinked output folder exits 4" test $? -eq 4
check "... saying why" grep -q "output folder is a symbolic link" <<<"$err"
check "... and nothing is written through it" test -z "$(ls -A real-out)"
mkdir shared-out && chmod 777 shared-out
err=$("$bin" run --as-of 2026-11-26 --out shared-out 2>&1)
check "a world-writable output folder exits 4" test $? -eq 4
check "... saying why" grep -q "output folder is writable by every user" <<<"$err"
mkdir -m 700 real-state && ln -s real-state link-state
err=$("$bin" run --as-of 2026-11-26 --out o-state --state link-state 2>&1)
rc=$?
check "a symlinked state folder is refused" grep -q "state folder is a symbolic link" <<<"$err"
check "... with exit 4, not 6 (6 says another run holds the folder)" test $rc -eq 4
# RELIABILITY S6: a file system that refuses a write (EFBIG under ulimit -f, as ENOSPC would) ends the run with
# exit 4 and the file named; outputs are replaced whole or not at all, last night's manifest is gone (a folder
# without one is incomplete), nothing half-written is left, and the state store stays consistent.
"$bin" run --as-of 2026-11-26 --out s6-out --state s6-state >/dev/null 2>&1
check "S6: a first run completes" test -s s6-out/manifest.json
err=$( (trap '' XFSZ; ulimit -f 1000; "$bin" run --as-of 2026-11-26 --out s6-out --state s6-state 2>&1 >/dev/null) )
check "S6: a write refused half-way exits 4" test $? -eq 4
check "S6: ... naming the file and the error" grep -q "report.html.tmp: cannot write: File too large" <<<"$err"
check "S6: ... with no manifest left in the folder" test ! -e s6-out/manifest.json
check "S6: ... and no temporary file" test -z "$(ls s6-out | grep '\.tmp$')"
# 32 KiB: below what the first scratch file needs, well below results.ndjson (about 60 KiB of the demo's
# candidates, which would otherwise be refused first).
err=$( (trap '' XFSZ; ulimit -f 32; "$bin" run --as-of 2026-11-26 --out s6-small 2>&1 >/dev/null) )
check "S6: a scratch file that cannot be written exits 4" test $? -eq 4
check "S6: ... saying so" grep -q "cannot write a scratch file: File too large" <<<"$err"
"$bin" run --as-of 2026-11-26 --out s6-out --state s6-state >/dev/null 2>&1
check "S6: the next run completes" test -s s6-out/manifest.json
check "S6: the state store lists the failed run between two complete ones" \
  bash -c "'$bin' history --state s6-state | awk '\$1 ~ /^[0-9]+\$/ {print \$2}' | tr '\n' ' ' | grep -qx 'complete failed complete '"
check "S6: ... with the reason it failed" \
  bash -c "'$bin' history --state s6-state | grep -q '^ .*report.html.tmp: cannot write: File too large'"
# ... and when the state store's commit is what fails (its WAL grows past the limit; the outputs fit under it):
# exit 4 naming the database, no manifest (the outputs are not a recorded night), the store rolled back so that the
# next run completes on it, and the run listed as failed with the reason.
err=$( (trap '' XFSZ; ulimit -f 1800; "$bin" run --as-of 2026-11-26 --out s6-db-out --state s6-db 2>&1 >/dev/null) )
check "S6: a state commit refused exits 4" test $? -eq 4
check "S6: ... naming the database" grep -q "s6-db/state.db: COMMIT: the run could not be recorded in the state store" <<<"$err"
check "S6: ... with no manifest left in the folder" test ! -e s6-db-out/manifest.json
"$bin" run --as-of 2026-11-26 --out s6-db-out --state s6-db >/dev/null 2>&1
check "S6: ... the next run completes" test -s s6-db-out/manifest.json
check "S6: ... and history lists failed, then complete" \
  bash -c "'$bin' history --state s6-db | awk '\$1 ~ /^[0-9]+\$/ {print \$2}' | tr '\n' ' ' | grep -qx 'failed complete '"
check "S6: ... with the reason" bash -c "'$bin' history --state s6-db | grep -q '^ .*could not be recorded in the state store'"
# RELIABILITY H6: each run's manifest keeps the audit log's head, so that the newest entries removed (which
# leaves a valid chain behind) shows against it.
manifest_head() { python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["audit"]; print(a["entry"], a["sha256"])' "$1"; }
remove_audit_after() {  # remove_audit_after STATE ENTRY: what someone with write access to the database can do
  python3 -c 'import sqlite3,sys
db = sqlite3.connect(sys.argv[1] + "/state.db")
db.execute("DROP TRIGGER audit_append_only_delete")
db.execute("DELETE FROM audit WHERE id > ?", (int(sys.argv[2]),))
db.commit()' "$1" "$2"
}
out=$("$bin" run --as-of 2026-11-26 --out h6-1 --state h6-state 2>&1)
read -r head1 hash1 < <(manifest_head h6-1/manifest.json)
check "H6: the manifest names the audit log's head" test "${head1:-0}" -gt 1
check "H6: ... and the run's log says it too" grep -q "log head: entry $head1, sha256 $hash1 " <<<"$out"
check "H6: ... which is the last entry: the run's own" bash -c "'$bin' audit --state h6-state | sed -n '${head1}p' | grep -q '  run  run 1 as of'"
check "H6: the run's entry names the trial, the export mode and each output's SHA-256" bash -c "'$bin' audit --state h6-state |
  grep '  run  run 1 as of' | grep 'with trial NCT07177911 version .* (identified export)' |
  grep -q 'candidates.csv sha256:$(sha256sum h6-1/candidates.csv | cut -d' ' -f1), '"
"$bin" run --as-of 2026-11-26 --out h6-2 --state h6-state >/dev/null 2>&1
read -r head2 hash2 < <(manifest_head h6-2/manifest.json)
check "H6: the next run's head is further on" test "${head2:-0}" -gt "${head1:-0}"
out=$("$bin" audit --state h6-state h6-1/manifest.json h6-2/manifest.json 2>&1)
check "H6: both manifests verify against the log" test $? -eq 0
check "H6: ... each named" bash -c "grep -q 'h6-1/manifest.json: entry $head1 verified' <<<'$out' && grep -q 'h6-2/manifest.json: entry $head2 verified' <<<'$out'"
remove_audit_after h6-state "$head1"
"$bin" audit --state h6-state >/dev/null 2>&1
check "H6: the newest entries removed leave a chain that verifies on its own" test $? -eq 0
err=$("$bin" audit --state h6-state h6-1/manifest.json h6-2/manifest.json 2>&1 >/dev/null)
check "H6: ... but not against the second run's manifest (exit 7)" test $? -eq 7
check "H6: ... which says entries were removed" grep -q "h6-2/manifest.json: entry $head2 is not in the log: entries were removed" <<<"$err"
"$bin" audit --state h6-state "$head2:$hash2" >/dev/null 2>&1
check "H6: ... nor against the head as the run's log line gave it (N:SHA256, exit 7)" test $? -eq 7
"$bin" audit --state h6-state "$head1:$hash1" >/dev/null 2>&1
check "H6: ... while the first run's head still verifies" test $? -eq 0
check "H6: ... and not against the first" bash -c "! grep -q 'h6-1/manifest.json' <<<'$err'"
"$bin" run --as-of 2026-11-26 --out h6-3 --state h6-state >/dev/null 2>&1
err=$("$bin" audit --state h6-state h6-2/manifest.json 2>&1 >/dev/null)
check "H6: entries appended after the removal take the old numbers, with other hashes (exit 7)" test $? -eq 7
check "H6: ... and say so" grep -q "entry $head2 has another hash than when that run ended" <<<"$err"
"$bin" run --as-of 2026-11-26 --out h6-nostate >/dev/null 2>&1
err=$("$bin" audit --state h6-state h6-nostate/manifest.json 2>&1 >/dev/null)
check "H6: a manifest without an audit head is a usage error (exit 2)" test $? -eq 2
check "H6: ... that says why" grep -q "the manifest names no audit log entry" <<<"$err"
check "H6: a run without --state writes no audit head" bash -c "! grep -q '\"audit\"' h6-nostate/manifest.json"
# RELIABILITY H8: a counts-only export into a folder an identified run wrote: afterwards it holds the funnel and
# the manifest only, no patient id anywhere, every count of patients under the small-cell rule, and the state
# store's audit log has no disclosure entry for that run.
"$bin" run --as-of 2026-11-26 --out h8-out --state h8-state >/dev/null 2>&1
out=$("$bin" run --as-of 2026-11-26 --out h8-out --state h8-state --export-mode counts 2>&1)
check "H8: a counts-only run exits 0" test $? -eq 0
check "H8: ... and says where the counts are" grep -q "counts only (no patient-level output): $tmp/h8-out/attrition.csv" <<<"$out"
check "H8: ... leaving only attrition.csv and manifest.json in the folder" test "$(ls h8-out | tr '\n' ' ')" = "attrition.csv manifest.json "
check "H8: no patient id in the folder" bash -c "! grep -rq 'cc-[0-9]' h8-out"
check "H8: every count in attrition.csv is 0, <11 or a multiple of 5 from 10" python3 -c '
import csv, re, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8-sig")))
cells = [v for r in rows[1:] for v in r[5:]]
assert len(rows) > 20 and "<11" in cells, rows
assert all(re.fullmatch(r"|0|<11|[1-9][0-9]*[05]", v) for v in cells), cells' h8-out/attrition.csv
check "H8: the manifest counts patients under the rule and records it" python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["export_mode"] == "counts" and m["patients"] == "65" and m["tiers"] == {"eligible": "15", "possible": "20", "ineligible": "30"}, m
assert m["small_cells"] == {"suppressed_below": 11, "rounded_to": 5}, m
assert [o["file"] for o in m["outputs"]] == ["attrition.csv"], m["outputs"]
# Every count of resources and issues goes through the rule too (Patient resources read count patients).
import re
r = m["resources"]
flat = [r[k] for k in ("rejected", "kept_as_evidence", "not_relevant", "duplicates", "unattributed")]
flat += [v for k in ("read", "other_types_skipped", "prefiltered") for v in r[k].values()] + list(m["data_issues"].values())
assert r["read"]["Patient"] == "65", r
assert all(isinstance(v, str) and re.fullmatch(r"0|<11|[1-9][0-9]*[05]", v) for v in flat), flat' h8-out/manifest.json
check "H8: disclosure entries for the identified run only" \
  bash -c "test \$('$bin' audit --state h8-state | grep -c '  disclose  .*in the outputs of run 2') -eq 0 && '$bin' audit --state h8-state | grep -q '  disclose  .*in the outputs of run 1'"
"$bin" run --as-of 2026-11-26 --out h8-strict --export-mode counts --min-cell-count 20 --round-counts-to 10 >/dev/null 2>&1
check "H8: the threshold and rounding are the privacy office's (--min-cell-count 20 --round-counts-to 10)" \
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); assert m["tiers"] == {"eligible": "<20", "possible": "20", "ineligible": "30"}, m' h8-strict/manifest.json
err=$("$bin" run --as-of 2026-11-26 --out h8-x --min-cell-count 5 2>&1)
check "H8: --min-cell-count without --export-mode counts exits 2" test $? -eq 2
check "H8: ... and says so" grep -q -- "--min-cell-count needs --export-mode counts" <<<"$err"
"$bin" run --as-of 2026-11-26 --out h8-x --export-mode counts --round-counts-to 0 >/dev/null 2>&1
check "H8: --round-counts-to 0 exits 2" test $? -eq 2
# RELIABILITY H8 (3): a Safe Harbor export of the demo: pseudonyms, and no day or month of any patient's
# date anywhere (the only full dates left are the run's own: the as-of date, the trial version, the clock).
err=$("$bin" run --as-of 2026-11-26 --out h8-sh --export-mode safe-harbor 2>&1)
check "H8: safe-harbor without --pseudonym-key exits 2" test $? -eq 2
check "H8: ... and says so" grep -q -- "--export-mode safe-harbor needs --pseudonym-key FILE" <<<"$err"
head -c 48 /dev/urandom | base64 >h8-key && chmod 600 h8-key
"$bin" run --as-of 2026-11-26 --out h8-sh --export-mode safe-harbor --pseudonym-key h8-key >/dev/null 2>&1
check "H8: a safe-harbor run exits 0" test $? -eq 0
check "H8: safe-harbor outputs hold no patient date finer than a year, and no raw id" python3 -c '
import json, re, sys
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
assert m["export_mode"] == "safe-harbor", m["export_mode"]
allowed = {"2026-11-26", m["trial"]["version"][:10], m["started"][:10], m["finished"][:10]}
seen = 0
for f in ["candidates.csv", "results.ndjson", "group.json", "report.html", "data_issues.ndjson"]:
    text = open(d + "/" + f, encoding="utf-8").read()
    seen += len(text)
    for day in re.findall(r"(?<![0-9])[12][0-9]{3}-[01][0-9](?:-[0-3][0-9])?", text):
        assert day in allowed, (f, day)
    assert not re.search(r"cc-[0-9]{3}", text), f
assert seen > 10000
r = [json.loads(l) for l in open(d + "/results.ndjson")]
assert any(re.fullmatch(r"[12][0-9]{3}", e.get("date", "")) for x in r for c in x["criteria"] for e in c.get("evidence", [])), "years are kept"' h8-sh
# Two versions of a kept resource while the line filter skipped lines: the run warns that such a folder needs
# --prefilter off (a skipped line could be a newer, recoded version); with it, no warning.
mkdir -p ver-src
cv() { echo "{\"resourceType\":\"Condition\",\"id\":\"c1\",\"meta\":{\"versionId\":\"$1\"},\"subject\":{\"reference\":\"Patient/v1\"},\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"55464009\"}]}}"; }
{ echo '{"resourceType":"Patient","id":"v1","birthDate":"1990-01-01"}'; cv 1; cv 2
  echo '{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/v1"},"code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]}}'; } >ver-src/data.ndjson
err=$("$bin" run --source ver-src --as-of 2026-11-26 --out ver-out 2>&1 >/dev/null)
check "versions and the line filter: the run warns" grep -q '"kind":"versions-and-prefilter"' ver-out/data_issues.ndjson
check "... on the terminal too" grep -q "warning: 1 resource(s) came in more than one version" <<<"$err"
"$bin" run --source ver-src --as-of 2026-11-26 --out ver-out2 --prefilter off >/dev/null 2>&1
check "... and not with --prefilter off" bash -c "! grep -q versions-and-prefilter ver-out2/data_issues.ndjson"
# A merged record (Patient.link replaced-by) is evaluated under each id apart: said as a data issue on both.
mkdir -p merged-src
{ echo '{"resourceType":"Patient","id":"old","active":false,"birthDate":"1990-01-01","link":[{"other":{"reference":"Patient/new"},"type":"replaced-by"}]}'
  echo '{"resourceType":"Patient","id":"new","birthDate":"1990-01-01","link":[{"other":{"reference":"Patient/old"},"type":"replaces"}]}'; } >merged-src/Patient.ndjson
"$bin" run --source merged-src --as-of 2026-11-26 --out merged-out >/dev/null 2>&1
check "Patient.link: a data issue on each of the two records" \
  test "$(grep -c '"kind":"patient-merged"' merged-out/data_issues.ndjson)" = 2
# An incomplete night does not store what it read of patients it read for the first time: stored, they would count
# as known, and later incremental nights would ask only for their changes, never for what failed.
mkdir -p inc-src
pat() { echo "{\"resourceType\":\"Patient\",\"id\":\"$1\",\"birthDate\":\"1990-01-01\"}"; }
sle() { echo "{\"resourceType\":\"Condition\",\"id\":\"sle-$1\",\"subject\":{\"reference\":\"Patient/$1\"},\"code\":{\"coding\":[{\"system\":\"http://snomed.info/sct\",\"code\":\"55464009\"}]}}"; }
{ pat inc-a; sle inc-a; } >inc-src/data.ndjson
"$bin" run --source inc-src --as-of 2026-11-26 --state inc-state --out inc-out1 >/dev/null 2>&1
check "incomplete nights: night 1 is complete" test $? -eq 0
{ pat inc-a; sle inc-a; pat inc-b; sle inc-b; echo '{"resourceType":"Observation","id":"cut","subject":{"reference":"Patient/inc-b"},'; } >inc-src/data.ndjson
out=$("$bin" run --source inc-src --as-of 2026-11-26 --state inc-state --out inc-out2 2>&1)
check "incomplete nights: night 2 is incomplete (exit 5)" test $? -eq 5
check "incomplete nights: ... and says what it did not store" grep -q "2 resource(s) of patients read for the first time on this incomplete night were not stored" <<<"$out"
check "incomplete nights: the new patient's resources are not stored, the known one's are" python3 -c '
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT DISTINCT patient FROM resources").fetchall()
assert sorted(r[0] for r in rows) == ["inc-a"], rows' inc-state/state.db
# What changed after an incomplete night: a candidate it did not read is 'unread', not 'dropped' (an outage is not
# a lost candidate), with its screening status. Each night compares with the last finished one, whose unread
# patients keep their results of the last complete night.
"$bin" feedback inc-a --status screened --state inc-state >/dev/null
{ pat inc-b; sle inc-b; echo '{"resourceType":"Observation","id":"cut","subject":{"reference":"Patient/inc-b"},'; } >inc-src/data.ndjson
out=$("$bin" run --source inc-src --as-of 2026-11-26 --state inc-state --out inc-out3 2>&1)
check "changes: night 3 is incomplete (exit 5)" test $? -eq 5
check "changes: a candidate not read on an incomplete night is 'unread', with its screening status" \
  grep -q '^unread,"inc-a",possible,,[0-9]*,,"not read tonight (source incomplete)","screened"' inc-out3/changes.csv
check "changes: ... not 'dropped'" bash -c '! grep -q "^dropped" inc-out3/changes.csv'
check "changes: ... compared with the last night (run 2, incomplete as it was): inc-b is not new" \
  bash -c '! grep -q "^new,\"inc-b\"" inc-out3/changes.csv'
check "changes: ... in the summary, since run 2" grep -q "since run 2 " <<<"$out"
check "changes: the summary counts it" grep -q "since run 2 .*1 not read tonight" <<<"$out"
{ pat inc-b; sle inc-b; } >inc-src/data.ndjson
"$bin" run --source inc-src --as-of 2026-11-26 --state inc-state --out inc-out4 >/dev/null 2>&1
check "changes: night 4 is complete" test $? -eq 0
check "changes: on a complete night the candidate no longer in the source is 'dropped', screening status kept" \
  grep -q '^dropped,"inc-a",possible,,[0-9]*,,"no longer in the source","screened"' inc-out4/changes.csv
# An existing output folder others could read is made private, and the run says so.
mkdir -m 755 readable-out
err=$("$bin" run --as-of 2026-11-26 --out readable-out --quiet true 2>&1 >/dev/null)
check "a shared output folder is made private (0700)" test "$(stat -c %a readable-out)" = 700
check "... and the run says so" grep -q "was readable by others and is now private" <<<"$err"
# Without a state folder there are no changes: an earlier night's changes.csv in the folder goes.
mkdir -p stale-out && echo "change,patient_id" >stale-out/changes.csv
"$bin" run --as-of 2026-11-26 --out stale-out >/dev/null 2>&1
check "a run without --state removes an earlier changes.csv from its folder" test ! -e stale-out/changes.csv
# A state folder follows the whole cohort: a shard run on it would make everyone outside the shard look dropped.
err=$("$bin" run --as-of 2026-11-26 --out shard-state-out --state shard-state --shard 1/2 2>&1)
check "--shard with --state is a usage error (exit 2)" test $? -eq 2
check "... saying why" grep -q -- "--shard cannot be used with --state" <<<"$err"
# Exit codes.
"$bin" run --bogus >/dev/null 2>&1
check "unknown option exits 2" test $? -eq 2
"$bin" run --as-of 2026-02-30 >/dev/null 2>&1
check "impossible as-of date exits 2" test $? -eq 2
echo '{"format":"cohort-finder/trial@1","id":"X","version":"1","criteria":[{"id":"A","kind":"inclusion","label":"a","expr":{"age":{"min":"x"}}}]}' >bad-trial.json
err=$("$bin" run --trial bad-trial.json --out o2 2>&1)
check "invalid trial definition exits 3" test $? -eq 3
check "the error names the criterion and field" grep -q "criteria\[0\] (A).expr.age.min" <<<"$err"
"$bin" run --source "$tmp/does-not-exist" --out o3 >/dev/null 2>&1
check "missing source exits 4" test $? -eq 4
"$bin" run --source "$repo/fhir-samples/malformed/truncated-bundle.json" --as-of 2026-11-26 --out o4 >/dev/null 2>&1
check "incomplete input exits 5" test $? -eq 5
check "incomplete run is recorded in the manifest" grep -q '"complete":false' o4/manifest.json
# The raw-line prefilter never changes a decision: same results with and without it.
corpus="$repo/../shared/fhir-corpus"
for src in "$repo/fhir-samples/ndjson" "$repo/tests/data/corpus-slice" "$corpus"; do
  [ -d "$src" ] || continue
  "$bin" run --source "$src" --as-of 2026-11-26 --out pf-on --prefilter on --ineligible-detail full >/dev/null
  "$bin" run --source "$src" --as-of 2026-11-26 --out pf-off --prefilter off --ineligible-detail full >/dev/null
  check "prefilter on/off give identical results for $src" cmp -s pf-on/results.ndjson pf-off/results.ndjson
done
# Neither the memory budget (spilling to scratch files, partitions) nor the thread count changes an output.
for src in "$repo/fhir-samples" "$corpus"; do
  [ -d "$src" ] || continue
  "$bin" run --source "$src" --as-of 2026-11-26 --out mem-a --threads 1 --ineligible-detail full >/dev/null 2>&1
  log=$("$bin" run --source "$src" --as-of 2026-11-26 --out mem-b --threads 3 --memory-budget 1 \
    --ineligible-detail full 2>&1 >/dev/null)
  check "a 1 MB memory budget spills for $src" grep -q "went to scratch files" <<<"$log"
  for f in results.ndjson candidates.csv attrition.csv group.json; do
    check "$f identical with spilling and 3 threads for $src" cmp -s mem-a/$f mem-b/$f
  done
  # report.html shows when the run started; nothing else may differ.
  check "report.html identical apart from the start time for $src" \
    cmp -s <(sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/TIME/g' mem-a/report.html) \
    <(sed -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z/TIME/g' mem-b/report.html)
  check "data_issues.ndjson identical with spilling and 3 threads for $src" cmp -s mem-a/data_issues.ndjson mem-b/data_issues.ndjson
  check "no scratch files left for $src" test -z "$(ls -A mem-b | grep -v -e '\.csv$' -e '\.ndjson$' -e '\.json$' -e '\.html$')"
done
# A drug line the mappings cannot identify (a brand under a local code) is kept, prefilter on or off, and shows
# in the patient's evidence; one whose RxNorm coding names another drug is skipped.
rm -rf brand-src && cp -r "$repo/fhir-samples/ndjson" brand-src
med='"status":"active","intent":"order","subject":{"reference":"Patient/cc-047"},"authoredOn":"2026-10-01"'
cat >>brand-src/MedicationRequest.ndjson <<EOL
{"resourceType":"MedicationRequest","id":"cc-047-brand",$med,"medicationCodeableConcept":{"coding":[{"system":"urn:oid:1.2.156.999.1","code":"XS-500","display":"骁悉 0.25g"}]}}
{"resourceType":"MedicationRequest","id":"cc-047-statin",$med,"medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"314231","display":"Simvastatin 10 MG Oral Tablet"}]}}
EOL
"$bin" run --source brand-src --as-of 2026-11-26 --out brand-on --prefilter on --ineligible-detail full >/dev/null 2>&1
"$bin" run --source brand-src --as-of 2026-11-26 --out brand-off --prefilter off --ineligible-detail full >/dev/null 2>&1
check "a brand drug: prefilter on/off give identical results" cmp -s brand-on/results.ndjson brand-off/results.ndjson
check "a brand drug makes 'glucocorticoid alone' unknown" bash -c "grep '\"Patient/cc-047\"\\|\"cc-047\"' brand-on/results.ndjson | grep -q '\"id\":\"I6d\",[^}]*\"outcome\":\"unknown\"'"
check "a brand drug is in its patient's evidence" grep -q 'MedicationRequest/cc-047-brand' brand-on/results.ndjson
check "another drug is in nobody's evidence" bash -c "! grep -q 'cc-047-statin' brand-on/results.ndjson"
check "another drug's line was prefiltered" grep -qE '"prefiltered":\{[^}]*"MedicationRequest":1[,}]' brand-on/manifest.json
# The run lists the drug the mappings do not identify, for the study team to map; not the other drug.
check "manifest lists the unidentified drug" grep -qF '"unidentified_drugs":[{"codes":["urn:oid:1.2.156.999.1|XS-500"],"name":"骁悉 0.25g","uses":1,"patients":1}]' brand-on/manifest.json
"$bin" run --source brand-src --as-of 2026-11-26 --out brand-counts --export-mode counts >/dev/null 2>&1
check "a counts-only export lists no unidentified drug" grep -qF '"unidentified_drugs":[]' brand-counts/manifest.json
check "report.html lists the unidentified drug" bash -c "grep -o '<table class=\"small\" id=\"unidentified-drugs\">.*</table>' brand-on/report.html | grep -q 'urn:oid:1.2.156.999.1|XS-500</td><td>骁悉 0.25g</td><td class=\"num\">1</td>'"
# Drug lines are skipped too, when their codes name another drug (a drug no mapping identifies is kept for
# "no other therapy"; the identical results above show nothing that mattered was skipped).
for t in Observation Condition MedicationRequest; do
  check "the prefilter skipped corpus ${t}s" bash -c "[ ! -d '$corpus' ] || grep -qE '\"prefiltered\":\\{[^}]*\"$t\":[1-9]' pf-on/manifest.json"
done
# RELIABILITY H3/H4: a running cohort-finder cannot dump core and creates private files. A listener that
# accepts and never answers holds the run at its first request while /proc is read.
port_file="$tmp/port"
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1)
open(sys.argv[1],"w").write(str(s.getsockname()[1])); c,_=s.accept(); time.sleep(60)' "$port_file" &
listener=$!
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
"$bin" run --source "http://127.0.0.1:$(cat "$port_file")/fhir" --out hang >/dev/null 2>&1 &
run_pid=$!
sleep 1
check "a running run has no core dumps" grep -qE '^Max core file size +0 +0 ' /proc/$run_pid/limits
check "a running run has umask 077" grep -qE '^Umask:\s+0077$' /proc/$run_pid/status
# SIGTERM outside a Bulk export poll ends the run at once, as without a handler (core/stop_signal.hpp).
kill -TERM $run_pid
for _ in $(seq 40); do kill -0 $run_pid 2>/dev/null || break; sleep 0.05; done
check "SIGTERM ends a run waiting on a server at once" bash -c "! kill -0 $run_pid 2>/dev/null"
wait $run_pid
check "... killed by the signal (exit 143)" test $? -eq 143
kill $run_pid $listener 2>/dev/null
wait $listener 2>/dev/null
"$bin" --help | grep -q "Exit codes"
check "help lists exit codes" test $? -eq 0

echo "$pass passed, $fail failed"
test "$fail" -eq 0
