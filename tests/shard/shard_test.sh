#!/usr/bin/env bash
# run --shard K/N for N = 1..4 plus `merge` equals one unsharded run: candidates.csv, results.ndjson and attrition.csv
# byte for byte, data issues as a set; shards of different as-of dates, a missing shard or a duplicate are refused.
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
  for f in candidates.csv results.ndjson attrition.csv; do
    check "N=$n: $f equals the single run" cmp -s "$tmp/single/$f" "$tmp/m$n/$f"
  done
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
"$bin" run "${args[@]/2026-11-26/2026-11-27}" --shard 2/2 --out "$tmp/other-day" >/dev/null
check "shards of different as-of dates are refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/s2-1' '$tmp/other-day' 2>/dev/null"
check "a missing shard is refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/s3-1' '$tmp/s3-2' 2>/dev/null"
check "a duplicate shard is refused" bash -c "! '$bin' merge --out '$tmp/bad' '$tmp/s2-1' '$tmp/s2-1' 2>/dev/null"
check "a bad --shard is a usage error" bash -c "'$bin' run --shard 3/2 --out '$tmp/x' >/dev/null 2>&1; test \$? -eq 2"
echo "$pass passed, $fail failed"
test "$fail" -eq 0
