#!/usr/bin/env bash
# Nightly operation against the real FHIR test server: three nights with data changing in between (changes.csv
# right each night), a one-day as-of step moving patients across age and window boundaries, the run lock, kill -9 at
# every crash point (the next run equals an uninterrupted one; the database stays intact), private permissions, and
# no clinical value in logs.
set -u
bin=$(readlink -f "$1")
repo=$(readlink -f "$2")
tmp=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$tmp"' EXIT
python3 "$repo/tests/rest/flatten_bundles.py" "$tmp/bundles.ndjson" "$repo"/fhir-samples/bundles/*.json
loads=()
for f in "$repo"/fhir-samples/ndjson/*.ndjson "$tmp/bundles.ndjson"; do loads+=(--load "$f"); done
cat >"$tmp/nights.sh" <<'SCRIPT'
set -u
pass=0; fail=0
check() { local name="$1"; shift; if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi; }
http() {  # http METHOD PATH [JSON]
  python3 - "$1" "$FHIR_BASE_URL/$2" "${3:-}" <<'PY'
import sys, urllib.request
m, url, body = sys.argv[1], sys.argv[2], sys.argv[3]
req = urllib.request.Request(url, method=m, data=body.encode() if body else None,
                             headers={"Content-Type": "application/fhir+json"})
with urllib.request.urlopen(req) as r:
    r.read()
PY
}
run() {  # run AS_OF OUT [extra args]
  local asof=$1 out=$2
  shift 2
  "$BIN" run --source "$FHIR_BASE_URL" --mode population --as-of "$asof" --state "$T/state" --out "$T/$out" "$@" \
    >"$T/$out.stdout" 2>"$T/$out.stderr"
}
tier() { python3 -c "import json,sys; print(next(json.loads(l)['tier'] for l in open(sys.argv[1]) if json.loads(l)['patient']==sys.argv[2]))" "$1" "$2"; }

# Night 1.
run 2026-11-26 night1; check "night 1 exits 0" test $? -eq 0
check "night 1: every candidate is new" grep -q "first run" "$T/night1.stdout"
check "night 1: cc-033 possible (no recent urine protein)" test "$(tier "$T/night1/results.ndjson" cc-033)" = possible
check "state folder is private" test "$(stat -c %a "$T/state")" = 700
check "state database is private" test "$(stat -c %a "$T/state/state.db")" = 600
check "outputs are private" test "$(stat -c %a "$T/night1/candidates.csv")" = 600

# Between nights 1 and 2: a new creatinine of 7.31975 mg/dL for cc-033 within 8 weeks excludes it (E-SLN).
http PUT Observation/cc-033-new-creat '{"resourceType":"Observation","id":"cc-033-new-creat","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2160-0"}]},"subject":{"reference":"Patient/cc-033"},"effectiveDateTime":"2026-11-25","valueQuantity":{"value":7.31975,"unit":"mg/dL","system":"http://unitsofmeasure.org","code":"mg/dL"}}'
run 2026-11-26 night2; check "night 2 exits 0" test $? -eq 0
check "each night's manifest names its run (1, 2)" python3 -c "import json,sys; sys.exit([json.load(open(f)).get('run') for f in sys.argv[1:]] != [1, 2])" "$T/night1/manifest.json" "$T/night2/manifest.json"
check "night 2's manifest fingerprints changes.csv too" python3 "$REPO/tests/support/check_manifest_outputs.py" "$T/night2/manifest.json" changes.csv results.ndjson
check "night 2: cc-033 moved to ineligible" test "$(tier "$T/night2/results.ndjson" cc-033)" = ineligible
check "night 2: changes.csv says cc-033 dropped because E-SLN became met" \
  grep -q '^dropped,"cc-033",possible,ineligible,.*E-SLN: unknown -> met' "$T/night2/changes.csv"
check "night 2: nothing else dropped" test "$(grep -c '^dropped' "$T/night2/changes.csv")" = 1
# Incremental: only what changed since the last watermark (minus a 5-minute safety margin) is pulled.
n2=$(grep -o 'pulled [0-9]* changed' "$T/night2.stdout" | grep -o '[0-9]*')
check "night 2 pulled only the changes (incremental; pulled ${n2:-?} of 1100+)" test "${n2:-999}" -ge 1 -a "${n2:-999}" -le 10

# Between nights 2 and 3: that result is deleted on the server. An incremental search cannot see deletions;
# --full pulls everything again and drops what the server no longer has -> cc-033 returns.
http DELETE Observation/cc-033-new-creat
run 2026-11-26 night3 --full true; check "night 3 (--full) exits 0" test $? -eq 0
check "night 3: cc-033 is a candidate again" grep -q '^new,"cc-033",ineligible,possible' "$T/night3/changes.csv"

# One day later with no data change: age and window boundaries move, and changes.csv says why.
run 2026-11-27 night4; check "night 4 exits 0" test $? -eq 0
check "as-of +1 day: cc-004 dropped at 66 (I2)" grep -q '^dropped,"cc-004",eligible,ineligible,.*I2: met -> not_met' "$T/night4/changes.csv"
check "as-of +1 day: cc-041 new at 18 (I2)" grep -q '^new,"cc-041",ineligible,eligible,.*I2: not_met -> met' "$T/night4/changes.csv"
check "as-of +1 day: cc-050 new, creatinine left the 8-week window" grep -q '^new,"cc-050",.*E-SLN: met -> not_met' "$T/night4/changes.csv"

# Screening feedback stays visible.
"$BIN" feedback cc-001 --status screened --note "called" --state "$T/state" >/dev/null
run 2026-11-27 night5
check "feedback shown in candidates.csv" grep -q '"cc-001",eligible,[0-9.]*,"screened"' "$T/night5/candidates.csv"

# Retention: --keep-lines 2 empties the results lines of all but the last 2 runs; their decisions stay.
run 2026-11-27 night6 --keep-lines 2; check "night 6 (--keep-lines 2) exits 0" test $? -eq 0
check "night 6 says which runs keep their lines" grep -q "results lines kept for runs 5 and later" "$T/night6.stderr"
ex=$("$BIN" explain cc-001 --state "$T/state" --run 1)
check "explain of a pruned run says so" grep -q "pruned by --keep-lines" <<<"$ex"
check "explain of a pruned run gives each criterion's outcome" grep -qx "\[met\] I2" <<<"$ex"
check "explain of a pruned run lists criteria in the trial's order" python3 -c "
import json,sys,re
ids=[c['id'] for c in json.load(open(sys.argv[1]))['criteria']]
shown=[m.group(1) for m in re.finditer(r'^\\[\\w+\\] (\\S+)$', sys.argv[2], re.M)]
assert shown==ids, (shown, ids)
" "$REPO/mappings/trials/nct07177911.json" "$ex"
check "explain of a pruned run gives no evidence" bash -c "! grep -q 'Patient/cc-001' <<<\"\$1\"" _ "$ex"
ex=$("$BIN" explain cc-001 --state "$T/state" --run 5)
check "explain of a kept run still gives its evidence" grep -q "Patient/cc-001" <<<"$ex"
check "the audit log records the pruning" python3 -c "
import sqlite3,sys
rows=sqlite3.connect(sys.argv[1]).execute(\"SELECT detail FROM audit WHERE action='prune'\").fetchall()
assert rows and 'runs before 5' in rows[-1][0], rows
" "$T/state/state.db"

# The run lock: a second run on the same state folder exits 6 at once.
python3 - "$T/state/run.lock" "$T/locked" <<'PY' &
import fcntl, sys, time, os
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(5)
PY
holder=$!
for i in $(seq 50); do [ -e "$T/locked" ] && break; sleep 0.1; done
run 2026-11-27 locked; rc=$?
check "a second run exits 6 while the lock is held" test "$rc" -eq 6
check "it says why" grep -q "another cohort-finder run" "$T/locked.stderr"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

# kill -9 at every crash point, 3 times each: the next run's outputs equal an uninterrupted run's. The killed runs
# pull everything (--full): an incremental pull of unchanged data may deliver fewer than the two pages the mid-pull
# point needs (how many depends on today's date against the demo data's lastUpdated).
run 2026-11-27 reference
points=0; integrity_failures=0
for point in mid-pull mid-evaluation mid-export before-commit; do
  for rep in 1 2 3; do
    COHORT_CRASH_AT=$point run 2026-11-27 "crash-$point-$rep" --full true
    rc=$?
    points=$((points + 1))
    check "killed at $point ($rep)" test "$rc" -eq 137
    # A folder with a manifest is a night the store recorded: a kill before the commit leaves none.
    check "killed at $point ($rep): no manifest.json" test ! -e "$T/crash-$point-$rep/manifest.json"
    run 2026-11-27 "after-$point-$rep"
    check "run after a kill at $point exits 0" test $? -eq 0
    for f in candidates.csv results.ndjson attrition.csv; do
      check "after kill at $point: $f equals the uninterrupted run" cmp -s "$T/reference/$f" "$T/after-$point-$rep/$f"
    done
    ok=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])" "$T/state/state.db")
    [ "$ok" = ok ] || integrity_failures=$((integrity_failures + 1))
  done
done
check "integrity_check ok after every kill" test "$integrity_failures" -eq 0
check "killed runs are recorded as abandoned" bash -c "'$BIN' history --state '$T/state' | grep -c abandoned | grep -qx $points"

# Changed mappings (a copy whose concepts.json differs only in its comment): what the store kept from incremental
# pulls was chosen by the old ones, so the next pull is a full one; the night after, incremental again.
cp -r "$REPO/mappings" "$T/mappings2"
python3 - "$T/mappings2/concepts.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["comment"] += " (changed by the nightly test)"
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
run 2026-11-27 remapped --mappings "$T/mappings2"; check "a night with changed mappings exits 0" test $? -eq 0
check "changed mappings: everything pulled again, and the log says why" \
  grep -q "pulled everything again: the trial definition or the mappings changed since run" "$T/remapped.stderr"
check "changed mappings: not an incremental pull" bash -c "! grep -q 'pulled [0-9]* changed' '$T/remapped.stdout'"
run 2026-11-27 remapped2 --mappings "$T/mappings2"
check "the next night with the same mappings pulls incrementally again" grep -q "pulled [0-9]* changed" "$T/remapped2.stdout"
check "... and says nothing of a full pull" bash -c "! grep -q 'pulled everything again' '$T/remapped2.stderr'"

# A resource recoded on the server since the last night: cc-050's creatinine of 3.0 mg/dL within 8 weeks (E-SLN)
# becomes a glucose, which no criterion reads. The searches for changes ask for every changed Observation, not
# only mapped codes, so it still comes and replaces the version the state store kept.
run 2026-11-26 recode-before --mappings "$T/mappings2"
check "before the recode: cc-050 ineligible" test "$(tier "$T/recode-before/results.ndjson" cc-050)" = ineligible
body=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o["id"] == "cc-050-obs-13":
        o["code"] = {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]}
        o.pop("meta", None)
        print(json.dumps(o))' "$REPO/fhir-samples/ndjson/Observation.ndjson")
http PUT Observation/cc-050-obs-13 "$body"
# ... and a new glucose no criterion reads: delivered by the same searches, but not kept in the store.
http PUT Observation/cc-050-glucose '{"resourceType":"Observation","id":"cc-050-glucose","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},"subject":{"reference":"Patient/cc-050"},"effectiveDateTime":"2026-11-25","valueQuantity":{"value":5.1,"unit":"mmol/L","system":"http://unitsofmeasure.org","code":"mmol/L"}}'
run 2026-11-26 recode-after --mappings "$T/mappings2"; check "the night after the recode exits 0" test $? -eq 0
check "the night after the recode is incremental" grep -q "pulled [0-9]* changed" "$T/recode-after.stdout"
check "after the recode: cc-050 is a candidate again (the old creatinine is not read from the store)" \
  grep -q '^new,"cc-050",ineligible,' "$T/recode-after/changes.csv"
check "the state store keeps the recoded version" python3 -c "
import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute(\"SELECT json FROM resources WHERE id='cc-050-obs-13'\").fetchone()
assert row and '2345-7' in row[0], row
" "$T/state/state.db"
check "... but not a new resource that no criterion reads" python3 -c "
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM resources WHERE id='cc-050-glucose'\").fetchone()[0]
assert n == 0, n
" "$T/state/state.db"

# Deletions: a search for changes never returns them, so a full pull comes when the last one is --full-every-days
# old (7 by default). The state's last full pull is moved back to January: the next night pulls everything and
# the resource deleted on the server leaves the store.
http DELETE Observation/cc-050-obs-13
run 2026-11-26 not-yet --mappings "$T/mappings2"
check "a night soon after a full pull is incremental" grep -q "pulled [0-9]* changed" "$T/not-yet.stdout"
check "... and keeps what the server deleted (a search for changes cannot see it)" python3 -c "
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM resources WHERE id='cc-050-obs-13'\").fetchone()[0]
assert n == 1, n
" "$T/state/state.db"
python3 -c "
import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute(\"UPDATE sources SET last_full_pull='2026-01-01T00:00:00Z'\"); db.commit()
" "$T/state/state.db"
run 2026-11-26 weekly --mappings "$T/mappings2"; check "the night after an old full pull exits 0" test $? -eq 0
check "... pulls everything again, saying why" grep -q "deletions are seen only by a full pull" "$T/weekly.stderr"
check "... and the deleted resource leaves the store" python3 -c "
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM resources WHERE id='cc-050-obs-13'\").fetchone()[0]
assert n == 0, n
" "$T/state/state.db"

# Seed mode: a stored patient whose diagnosis is recoded so that no seed search finds them any more (SLE to
# drug-induced lupus) is still searched for changes: the recoded Condition replaces the stored one, and the
# patient is no longer a candidate (before, their stored SLE Condition was evaluated night after night).
seeds() {  # seeds OUT: a seed-mode night on its own state folder
  "$BIN" run --source "$FHIR_BASE_URL" --mode seed --as-of 2026-11-26 --state "$T/state-seed" --out "$T/$1" \
    >"$T/$1.stdout" 2>"$T/$1.stderr"
}
http PUT Patient/cc-900 '{"resourceType":"Patient","id":"cc-900","birthDate":"1990-01-01","gender":"female"}'
sle='{"resourceType":"Condition","id":"cc-900-sle","subject":{"reference":"Patient/cc-900"},"clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},"onsetDateTime":"2020-01-01","code":{"coding":[{"system":"http://snomed.info/sct","code":"CODE"}]}}'
http PUT Condition/cc-900-sle "${sle/CODE/55464009}"
seeds seed1; check "seed night 1 exits 0" test $? -eq 0
check "seed night 1: cc-900 (SLE) is a candidate" test "$(tier "$T/seed1/results.ndjson" cc-900)" = possible
http PUT Condition/cc-900-sle "${sle/CODE/201436003}"
seeds seed2; check "seed night 2 exits 0" test $? -eq 0
check "seed night 2 is incremental and searches the stored patients for changes" \
  grep -q "changes since .* for the [0-9]* stored" "$T/seed2.stdout" "$T/seed2.stderr"
check "seed night 2: cc-900 (now drug-induced lupus) is no longer a candidate" \
  test "$(tier "$T/seed2/results.ndjson" cc-900)" = ineligible

# Whether changed mappings force a full pull is judged against the last COMPLETE night: a night with new mappings
# that ends incomplete may have missed what only the new codes make relevant, so the next night with them pulls
# everything again. The nights go through tests/fault-server/fault_proxy.js on one port (the source stays the same
# URL): night A clean with the old mappings, night B with new mappings and every Procedure search failing
# (500-forever), night C clean with the new mappings.
proxied() {  # proxied SCENARIO OUT [extra args]: a night through the proxy on port $pport (0: pick one)
  local scenario=$1 out=$2
  shift 2
  rm -f "$T/pport"
  node "$REPO/tests/fault-server/fault_proxy.js" --upstream "$FHIR_BASE_URL" --scenario "$scenario" \
    --mode population --port "$pport" --port-file "$T/pport" >"$T/$out.proxy.log" 2>&1 &
  local proxy=$!
  for _ in $(seq 1 100); do [ -s "$T/pport" ] && break; sleep 0.05; done
  pport=$(cut -d' ' -f1 "$T/pport")
  local base="http://127.0.0.1:$pport/${FHIR_BASE_URL#http://*/}"
  "$BIN" run --source "$base" --mode population --as-of 2026-11-26 --state "$T/state-proxied" --out "$T/$out" "$@" \
    >"$T/$out.stdout" 2>"$T/$out.stderr"
  local rc=$?
  kill "$proxy" 2>/dev/null
  wait "$proxy" 2>/dev/null
  return $rc
}
cp -r "$REPO/mappings" "$T/mappings3"
python3 - "$T/mappings3/concepts.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["comment"] += " (changed again by the nightly test)"
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
pport=0
proxied none proxied-a; check "proxied night A (old mappings) exits 0" test $? -eq 0
proxied 500-forever proxied-b --mappings "$T/mappings3"
check "proxied night B (new mappings, Procedure searches failing) is incomplete (exit 5)" test $? -eq 5
check "proxied night B pulls everything again" grep -q "pulled everything again" "$T/proxied-b.stderr"
proxied none proxied-c --mappings "$T/mappings3"; check "proxied night C exits 0" test $? -eq 0
check "proxied night C pulls everything again: the last complete night had the old mappings" \
  grep -q "pulled everything again: the trial definition or the mappings changed since run 1" "$T/proxied-c.stderr"
check "proxied night C: not an incremental pull" bash -c "! grep -q 'pulled [0-9]* changed' '$T/proxied-c.stdout'"

# No clinical value in logs: a planted creatinine value never appears in stdout/stderr of any run.
check "no planted value in logs" bash -c "! grep -l 7.31975 '$T'/*.stdout '$T'/*.stderr"
check "the audit log records runs without clinical values" python3 -c "
import sqlite3,sys
rows=sqlite3.connect(sys.argv[1]).execute('SELECT action, detail FROM audit').fetchall()
assert any(a=='run' for a,_ in rows) and any(a=='feedback' for a,_ in rows), rows
assert not any('7.31975' in d or 'mg/dL' in d for _,d in rows)
" "$T/state/state.db"
check "the audit log is append-only" python3 -c "
import sqlite3,sys
db=sqlite3.connect(sys.argv[1])
try:
    db.execute('DELETE FROM audit'); db.commit(); sys.exit(1)
except sqlite3.DatabaseError as e:
    assert 'append-only' in str(e)
" "$T/state/state.db"
# RELIABILITY H6: after every kill and rerun the audit log's hash chain still verifies, with a disclosure entry per
# candidate of each recorded run.
check "the audit hash chain verifies after the kills" bash -c "'$BIN' audit --state '$T/state' | tail -1 | grep -q 'hash chain verified'"
check "disclosure entries name candidates" bash -c "'$BIN' audit --state '$T/state' | grep -q '  disclose  patient .*: \\(eligible\\|possible\\), rank '"
# ... and the searches each run sent, as sent (IHE BALP: the query, never the answer): night 1 all of a type,
# night 2 only what changed since the watermark.
"$BIN" audit --state "$T/state" >"$T/audit.txt" 2>&1
check "query entries record night 1's searches" grep -qE '  query  run 1: (GET|POST) Patient(/_search |\?)' "$T/audit.txt"
check "query entries record night 2's incremental searches" grep -qE '  query  run 2: .*_lastUpdated=gt2' "$T/audit.txt"
check "no query entry carries a server answer" bash -c "! grep -E '  query  ' '$T/audit.txt' | grep -q 'resourceType'"
echo "kill -9 points: $points, integrity failures: $integrity_failures"
echo "$pass passed, $fail failed"
test "$fail" -eq 0
SCRIPT
BIN="$bin" T="$tmp" REPO="$repo" "$repo/tests/fhir-server/with-server.sh" "${loads[@]}" -- bash "$tmp/nights.sh"
