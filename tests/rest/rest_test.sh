#!/usr/bin/env bash
# REST integration against the real FHIR test server (tests/fhir-server) on 127.0.0.1:
#   the demo population loaded into the server gives, over REST, the same tiers, criteria and evidence as the file
#   source: every patient in population mode, every candidate in seed mode.
set -u
bin=$(readlink -f "$1")
repo=$(readlink -f "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() {
  local name="$1"
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
}

faketime_lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1)
python3 "$repo/tests/rest/flatten_bundles.py" "$tmp/bundles.ndjson" "$repo"/fhir-samples/bundles/*.json
loads=()
for f in "$repo"/fhir-samples/ndjson/*.ndjson "$tmp/bundles.ndjson"; do loads+=(--load "$f"); done

"$bin" run --as-of 2026-11-26 --out "$tmp/files" --ineligible-detail full >/dev/null
check "file run" test -s "$tmp/files/results.ndjson"

cat >"$tmp/rest.sh" <<SCRIPT
set -u
"$bin" run --source "\$FHIR_BASE_URL" --mode population --as-of 2026-11-26 --out "$tmp/pop" --ineligible-detail full --log-format json 2>"$tmp/pop.log"
echo "population rc=\$?" >"$tmp/rc"
"$bin" run --source "\$FHIR_BASE_URL" --mode seed --as-of 2026-11-26 --out "$tmp/seed" --concurrency 8 --page-size 7 2>"$tmp/seed.log"
echo "seed rc=\$?" >>"$tmp/rc"
# RELIABILITY P9: searches for given patients go as POST [type]/_search, so the server's access log (--log)
# shows no patient id; with --search-by-get they go in the URL (the check below can fail).
: >"\$FHIR_SERVER_LOG"
"$bin" run --source "\$FHIR_BASE_URL" --mode seed --as-of 2026-11-26 --out "$tmp/post" 2>/dev/null
echo "post rc=\$?" >>"$tmp/rc"
cp "\$FHIR_SERVER_LOG" "$tmp/post.access"
: >"\$FHIR_SERVER_LOG"
"$bin" run --source "\$FHIR_BASE_URL" --mode seed --as-of 2026-11-26 --out "$tmp/get" --search-by-get true 2>/dev/null
echo "get rc=\$?" >>"$tmp/rc"
cp "\$FHIR_SERVER_LOG" "$tmp/get.access"
# RELIABILITY S8: the incremental watermark is the server's clock (its Date header), not ours: a run whose wall
# clock is 2 hours ahead (libfaketime; the monotonic clock untouched) stores a watermark near the real time.
if [ -n "$faketime_lib" ]; then
  LD_PRELOAD="$faketime_lib" FAKETIME="+2h" DONT_FAKE_MONOTONIC=1 ASAN_OPTIONS="\${ASAN_OPTIONS:-}:verify_asan_link_order=0" \
    "$bin" run --source "\$FHIR_BASE_URL" --mode seed --as-of 2026-11-26 --out "$tmp/fake-out" --state "$tmp/fake-state" 2>/dev/null
  echo "faketime rc=\$?" >>"$tmp/rc"
fi
# The FHIR Group of the candidates round-trips through the server: PUT it, read it back, same members.
python3 - "\$FHIR_BASE_URL" "$tmp/files/group.json" >"$tmp/group.out" 2>&1 <<'PY'
import json, sys, urllib.request
base, path = sys.argv[1], sys.argv[2]
g = json.load(open(path))
req = urllib.request.Request(f"{base}/Group/{g['id']}", method="PUT", data=json.dumps(g).encode(),
                             headers={"Content-Type": "application/fhir+json"})
with urllib.request.urlopen(req) as r:
    assert r.status in (200, 201), r.status
with urllib.request.urlopen(f"{base}/Group/{g['id']}") as r:
    back = json.load(r)
members = lambda x: [m["entity"]["reference"] for m in x.get("member", [])]
assert members(back) == members(g) and len(members(g)) == 36, (len(members(back)), len(members(g)))
print("group round-trip ok", len(members(g)))
PY
# RELIABILITY H1: an Observation whose subject is a patient on another server is never taken for the local
# patient of that id, but may be theirs: decisions on that patient's Observations are unknown, as from files. The
# read itself is complete (exit 0): one such resource, served every night, must not hold every night incomplete.
python3 - "\$FHIR_BASE_URL" <<'PY' >"$tmp/foreign.put" 2>&1
import json, sys, urllib.request
o = {"resourceType": "Observation", "id": "foreign-hbsag", "status": "final",
     "code": {"coding": [{"system": "http://loinc.org", "code": "5196-1"}]},
     "subject": {"reference": "https://other.example.org/fhir/Patient/cc-001"},
     "effectiveDateTime": "2026-11-01", "valueString": "positive"}
req = urllib.request.Request(f"{sys.argv[1]}/Observation/foreign-hbsag", method="PUT", data=json.dumps(o).encode(),
                             headers={"Content-Type": "application/fhir+json"})
with urllib.request.urlopen(req) as r:
    print("put", r.status)
PY
"$bin" run --source "\$FHIR_BASE_URL" --mode population --as-of 2026-11-26 --out "$tmp/foreign" 2>/dev/null
echo "foreign rc=\$?" >>"$tmp/rc"
SCRIPT
"$repo/tests/fhir-server/with-server.sh" --log "${loads[@]}" -- bash "$tmp/rest.sh"
check "population run exits 0" grep -q "population rc=0" "$tmp/rc"
check "seed run exits 0" grep -q "seed rc=0" "$tmp/rc"
check "REST population = files, every patient" python3 "$repo/tests/rest/compare_results.py" "$tmp/files/results.ndjson" "$tmp/pop/results.ndjson"
check "REST seed = files, every candidate" python3 "$repo/tests/rest/compare_results.py" "$tmp/files/results.ndjson" "$tmp/seed/results.ndjson" --candidates-only
check "seed mode paged (page size 7)" bash -c "grep -q 'pages' '$tmp/seed.log' && ! grep -q ' 0 failed queries.* 13 pages' '$tmp/seed.log'"
check "JSON-lines log is JSON" python3 -c "import json,sys; [json.loads(l) for l in open('$tmp/pop.log')]"
check "FHIR Group accepted by the server and read back with the same 36 members" grep -q "group round-trip ok 36" "$tmp/group.out"
check "POST searches: runs exit 0, same results" bash -c "grep -q 'post rc=0' '$tmp/rc' && grep -q 'get rc=0' '$tmp/rc' && python3 '$repo/tests/rest/compare_results.py' '$tmp/post/results.ndjson' '$tmp/get/results.ndjson' --candidates-only >/dev/null"
check "POST searches: patient searches were POST _search" grep -q "^POST /fhir/Observation/_search -> 200" "$tmp/post.access"
check "POST searches: no patient id in any URL the server logged" bash -c "! grep -q 'cc-0' '$tmp/post.access'"
check "--search-by-get: patient ids in URLs (the check above can fail)" grep -q "^GET /fhir/Observation?patient=cc-0" "$tmp/get.access"
if [ -n "$faketime_lib" ]; then
  check "clock 2 h ahead: run exits 0" grep -q "faketime rc=0" "$tmp/rc"
  check "clock 2 h ahead: the watermark is the server's time" python3 - "$tmp/fake-state/state.db" <<'PY'
import datetime, sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT watermark FROM sources").fetchall()
now = datetime.datetime.now(datetime.timezone.utc)
marks = [datetime.datetime.fromisoformat(w.replace("Z", "+00:00")) for (w,) in rows]
skew = [abs((m - now).total_seconds()) for m in marks]
print("watermarks", [w for (w,) in rows], "seconds from now", skew)
# The run's own start time shows the faked clock was in force (else this check proves nothing).
started = sqlite3.connect(sys.argv[1]).execute("SELECT started FROM runs").fetchone()[0]
ahead = (datetime.datetime.fromisoformat(started.replace("Z", "+00:00")) - now).total_seconds()
print("run started", started, "seconds ahead", ahead)
sys.exit(0 if marks and max(skew) < 600 and 6600 < ahead < 7800 else 1)
PY
else
  echo "skipped: the clock-step check (no libfaketime; Debian package faketime)"
fi
check "a foreign subject: the Observation was stored by the server" grep -q "put 20[01]" "$tmp/foreign.put"
check "a foreign subject: the read is complete (exit 0)" grep -q "foreign rc=0" "$tmp/rc"
check "a foreign subject: said as a data issue" grep -q '"kind":"unattributed-resource".*another server' "$tmp/foreign/data_issues.ndjson"
check "a foreign subject: cc-001's Observations are incomplete, not taken for theirs" python3 -c "
import json, sys
r = next(json.loads(l) for l in open(sys.argv[1]) if json.loads(l)['patient'] == 'cc-001')
assert 'foreign-hbsag' not in json.dumps(r), 'taken for the local cc-001'
assert r['tier'] != 'ineligible', r['tier']
unknown = [c for c in r['criteria'] if c['outcome'] == 'unknown']
assert any('incomplete' in c.get('reason', '') or 'could not be read' in c.get('reason', '') for c in unknown), unknown
" "$tmp/foreign/results.ndjson"
check "no token or PHI in the log" bash -c "! grep -qi 'cc-0\|bearer' '$tmp/pop.log' '$tmp/seed.log'"
grep -h "summary" "$tmp/pop.log" "$tmp/seed.log" | sed 's/^/  /'
echo "$pass passed, $fail failed"
test "$fail" -eq 0
