#!/usr/bin/env bash
# run --shard K/N for N = 1..4 plus `merge` equals one unsharded run: candidates.csv, results.ndjson, attrition.csv and
# group.json byte for byte, report.html byte for byte once its two run-metadata rows are normalised (norm_html below:
# "Source", which the merge marks "(merged from N shards)", and "Run", the wall-clock start/finish), data issues as a
# set; the same in a limited export for N = 2; shards of different as-of dates, a missing shard, a duplicate,
# de-identified and counts-only shards and shards whose trial definition is no longer readable are refused.
set -u
bin=$(readlink -f "$1")
repo=$(readlink -f "$2")
src="${3:-}"  # optional: another NDJSON folder (e.g. bench data) instead of the demo
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
check() {
  local name="$1"
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
}
# report.html with the values of its "Source" and "Run" rows (<dt>Source</dt><dd>...</dd>) replaced by a constant; fails
# unless each row is found exactly once, so the normalisation cannot hide other differences.
norm_html() {
  local n
  n=$(grep -o '<dt>Source</dt><dd>[^<]*</dd>' "$1" | wc -l)
  [ "$n" -eq 1 ] || { echo "norm_html: $n Source rows in $1"; return 1; }
  n=$(grep -o '<dt>Run</dt><dd>[^<]*</dd>' "$1" | wc -l)
  [ "$n" -eq 1 ] || { echo "norm_html: $n Run rows in $1"; return 1; }
  sed -E 's#<dt>Source</dt><dd>[^<]*</dd>#<dt>Source</dt><dd>SOURCE</dd>#; s#<dt>Run</dt><dd>[^<]*</dd>#<dt>Run</dt><dd>RUN</dd>#' "$1" >"$2"
}
same_report() {  # single-run folder, merged folder
  norm_html "$1/report.html" "$1/report.norm.html" && norm_html "$2/report.html" "$2/report.norm.html" &&
    cmp -s "$1/report.norm.html" "$2/report.norm.html"
}
args=(--as-of 2026-11-26 --quiet true)
[ -n "$src" ] && args+=(--source "$src")
"$bin" run "${args[@]}" --out "$tmp/single" >/dev/null
for n in 1 2 3 4; do
  dirs=()
  for k in $(seq 1 "$n"); do
    "$bin" run "${args[@]}" --shard "$k/$n" --out "$tmp/s$n-$k" >/dev/null
    dirs+=("$tmp/s$n-$k")
  done
  "$bin" merge --out "$tmp/m$n" "${dirs[@]}" >/dev/null
  check "N=$n: merge exits 0" test $? -eq 0
  for f in candidates.csv results.ndjson attrition.csv group.json; do
    check "N=$n: $f equals the single run" cmp -s "$tmp/single/$f" "$tmp/m$n/$f"
  done
  check "N=$n: report.html equals the single run's apart from the Source and Run rows" same_report "$tmp/single" "$tmp/m$n"
  check "N=$n: the merged report says it was merged" grep -q "<dt>Source</dt><dd>[^<]* (merged from $n shards)</dd>" "$tmp/m$n/report.html"
  check "N=$n: the merged manifest fingerprints every output" python3 "$repo/tests/support/check_manifest_outputs.py" \
    "$tmp/m$n/manifest.json" candidates.csv results.ndjson attrition.csv data_issues.ndjson report.html group.json
  check "N=$n: data issues equal as a set" bash -c "diff <(sort -u '$tmp/single/data_issues.ndjson') <(sort -u '$tmp/m$n/data_issues.ndjson') >/dev/null"
  if [ "$n" -gt 1 ]; then
    total=0
    for k in $(seq 1 "$n"); do
      c=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['patients'])" "$tmp/s$n-$k/manifest.json")
      total=$((total + c))
    done
    check "N=$n: every patient is in exactly one shard" test "$total" -eq "$(wc -l <"$tmp/single/results.ndjson")"
  fi
done
# A limited export: no names anywhere, the same equalities.
"$bin" run "${args[@]}" --export-mode limited --out "$tmp/lim-single" >/dev/null
for k in 1 2; do "$bin" run "${args[@]}" --export-mode limited --shard "$k/2" --out "$tmp/lim-$k" >/dev/null; done
"$bin" merge --out "$tmp/lim-m" "$tmp/lim-1" "$tmp/lim-2" >/dev/null
check "limited N=2: merge exits 0" test $? -eq 0
for f in candidates.csv results.ndjson attrition.csv group.json; do
  check "limited N=2: $f equals the single run" cmp -s "$tmp/lim-single/$f" "$tmp/lim-m/$f"
done
check "limited N=2: report.html equals the single run's apart from the Source and Run rows" same_report "$tmp/lim-single" "$tmp/lim-m"
check "limited and identified reports differ (names)" bash -c "! cmp -s '$tmp/lim-m/report.html' '$tmp/m2/report.html'"
# De-identified shards withhold the score and pseudonymise ids: the unsharded order cannot be rebuilt.
head -c 48 /dev/urandom | base64 >"$tmp/key" && chmod 600 "$tmp/key"
for mode in deidentified safe-harbor; do
  for k in 1 2; do
    "$bin" run "${args[@]}" --export-mode $mode --pseudonym-key "$tmp/key" --shard "$k/2" --out "$tmp/$mode-$k" >/dev/null
    check "$mode shard $k/2 is written" test -s "$tmp/$mode-$k/manifest.json"
  done
  err=$("$bin" merge --out "$tmp/bad" "$tmp/$mode-1" "$tmp/$mode-2" 2>&1)
  check "$mode shards are refused" test $? -ne 0
  check "... because they are de-identified" grep -q "de-identified shards cannot be merged" <<<"$err"
done
for k in 1 2; do "$bin" run "${args[@]}" --export-mode counts --shard "$k/2" --out "$tmp/counts-$k" >/dev/null 2>&1; done
err=$("$bin" merge --out "$tmp/bad-counts" "$tmp/counts-1" "$tmp/counts-2" 2>&1)
check "counts-only shards are refused (their rounded counts do not add up)" grep -q "counts-only shards cannot be merged" <<<"$err"
# The trial definition is read again for the report: a manifest naming one that is gone is refused.
cp -r "$tmp/s2-1" "$tmp/gone-1" && cp -r "$tmp/s2-2" "$tmp/gone-2"
for k in 1 2; do
  python3 -c "import json,sys; m=json.load(open(sys.argv[1])); m['trial']['file']='/nonexistent/trial.json'; json.dump(m,open(sys.argv[1],'w'))" "$tmp/gone-$k/manifest.json"
done
check "a trial definition that can no longer be read is refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/gone-1' '$tmp/gone-2' 2>/dev/null"
"$bin" run "${args[@]/2026-11-26/2026-11-27}" --shard 2/2 --out "$tmp/other-day" >/dev/null
check "shards of different as-of dates are refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/s2-1' '$tmp/other-day' 2>/dev/null"
"$bin" run "${args[@]}" --shard 2/2 --ineligible-detail full --out "$tmp/other-detail" >/dev/null
check "shards of different --ineligible-detail are refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/s2-1' '$tmp/other-detail' 2>/dev/null"
check "the merged manifest records the detail" grep -q '"ineligible_detail":"deciding"' "$tmp/m2/manifest.json"
check "a missing shard is refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/s3-1' '$tmp/s3-2' 2>/dev/null"
check "a duplicate shard is refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/s2-1' '$tmp/s2-1' 2>/dev/null"
check "a bad --shard is a usage error" bash -c "'$bin' run --shard 3/2 --out '$tmp/x' >/dev/null 2>&1; test \$? -eq 2"
# An id that starts with "-" is written "'-dash" in candidates.csv (the formula guard): merge must still find its
# row (it once wrote the rank alone).
mkdir -p "$tmp/dash-src"
cp -r "$repo/fhir-samples/ndjson" "$repo/fhir-samples/bundles" "$tmp/dash-src/"
python3 - "$repo/fhir-samples/ndjson" "$tmp/dash-src/ndjson/dash.ndjson" <<'PY'
import glob, json, sys
out = open(sys.argv[2], "w")
for f in sorted(glob.glob(sys.argv[1] + "/*.ndjson")):
    for line in open(f):
        if '"cc-001' in line:
            out.write(line.replace('"cc-001', '"-dash').replace("Patient/cc-001", "Patient/-dash"))
PY
"$bin" run --as-of 2026-11-26 --quiet true --source "$tmp/dash-src" --out "$tmp/dash-single" >/dev/null
for k in 1 2; do
  "$bin" run --as-of 2026-11-26 --quiet true --source "$tmp/dash-src" --shard "$k/2" --out "$tmp/dash-$k" >/dev/null
done
"$bin" merge --out "$tmp/dash-m" "$tmp/dash-1" "$tmp/dash-2" >/dev/null
check "an id starting with '-' is a candidate" grep -q "\"'-dash\",eligible" "$tmp/dash-single/candidates.csv"
check "merged candidates.csv equals the single run with an id starting with '-'" \
  cmp -s "$tmp/dash-single/candidates.csv" "$tmp/dash-m/candidates.csv"
# A criterion label holding a comma, quotes and a line break (a study team's wording) is one quoted CSV field over two
# lines in attrition.csv: merge must split records only at line breaks outside quotes.
python3 - "$repo/mappings/trials/nct07177911.json" "$tmp/nl-trial.json" <<'PY'
import json, sys
trial = json.load(open(sys.argv[1]))
def relabel(o):
    if isinstance(o, dict):
        if o.get("id") == "I1":
            o["label"] = 'Signed informed consent,\n"written" form'
        for v in o.values():
            relabel(v)
    elif isinstance(o, list):
        for v in o:
            relabel(v)
relabel(trial)
json.dump(trial, open(sys.argv[2], "w"))
PY
# One unsharded run into $tmp/NAME-single, shards 1/2 and 2/2 into $tmp/NAME-1 and -2, and their merge into
# $tmp/NAME-m (its exit status is the function's), all with the run options given.
split_and_merge() {
  local name=$1
  shift
  "$bin" run --as-of 2026-11-26 --quiet true "$@" --out "$tmp/$name-single" >/dev/null
  for k in 1 2; do
    "$bin" run --as-of 2026-11-26 --quiet true "$@" --shard "$k/2" --out "$tmp/$name-$k" >/dev/null
  done
  "$bin" merge --out "$tmp/$name-m" "$tmp/$name-1" "$tmp/$name-2" >/dev/null
}
split_and_merge nl --trial "$tmp/nl-trial.json"
check "merge with a label over two lines exits 0" test $? -eq 0
check "the label is written over two lines" grep -q '^""written"" form",' "$tmp/nl-single/attrition.csv"
check "merged attrition.csv equals the single run with a label over two lines" \
  cmp -s "$tmp/nl-single/attrition.csv" "$tmp/nl-m/attrition.csv"
check "merged candidates.csv equals the single run with a label over two lines" \
  cmp -s "$tmp/nl-single/candidates.csv" "$tmp/nl-m/candidates.csv"
# Drugs the mappings do not identify, used by patients of different shards: the merged report lists them
# summed, as the single run does (its report equals the single run's).
cp -r "$repo/fhir-samples/ndjson" "$tmp/ud-src"
for p in cc-007 cc-047 cc-008; do  # cc-008 is in shard 1/2, the others in 2/2
  echo '{"resourceType":"MedicationRequest","id":"'$p'-brand","status":"active","intent":"order","subject":{"reference":"Patient/'$p'"},"authoredOn":"2026-10-01","medicationCodeableConcept":{"coding":[{"system":"urn:oid:1.2.156.999.1","code":"XS-500","display":"骁悉 0.25g"}]}}' >>"$tmp/ud-src/MedicationRequest.ndjson"
done
split_and_merge ud --source "$tmp/ud-src"
check "merge with unidentified drugs exits 0" test $? -eq 0
check "the single run lists the unidentified drug for 3 patients" \
  grep -q 'XS-500</td><td>骁悉 0.25g</td><td class="num">3</td><td class="num">3</td>' "$tmp/ud-single/report.html"
check "both shards met the drug" bash -c "grep -q XS-500 '$tmp/ud-1/manifest.json' && grep -q XS-500 '$tmp/ud-2/manifest.json'"
check "merged report.html with unidentified drugs equals the single run's" same_report "$tmp/ud-single" "$tmp/ud-m"
echo "$pass passed, $fail failed"
test "$fail" -eq 0
