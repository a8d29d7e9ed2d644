#!/usr/bin/env bash
# REST fault injection against the real FHIR test server (tests/fhir-server), RELIABILITY.md section (b):
#   cohort-finder --source <proxy> --auth bearer  ->  tests/fault-server/fault_proxy.js --scenario X  ->  server
# The demo data are loaded into the server once; each scenario starts its own proxy and runs the real executable in
# seed or population mode with a small page size, then check_run.py asserts the exact outcome:
#   complete    retried and complete: exit 0, results identical to the file source, nothing lost or duplicated;
#   incomplete  a clear error naming the redacted URL, exit 5, manifest "complete": false, the failed query's
#               patients have the affected criteria "unknown", no eligible/possible patient turned ineligible;
#   failed      a seed query fails: exit 4, nothing exported.
# Always: no crash or hang, 0 requests (with or without Authorization) to foreign origins, no token in any log or
# output file. Ends with the RELIABILITY.md (c) figures and "N passed, M failed" (scenarios).
#
# Usage: rest_faults_test.sh COHORT_FINDER REPO [SCENARIO...]
#   REST_FAULTS_SEED=N    seed for the proxies' fault placement (default 1; printed with every failure)
#   REST_FAULTS_KEEP=DIR  keep every scenario's folder (logs, outputs, proxy record) under DIR
set -u
bin=$(readlink -f "$1")
repo=$(readlink -f "$2")
shift 2
here="$repo/tests/rest-faults"
seed=${REST_FAULTS_SEED:-1}

if [ -z "${REST_FAULTS_INNER:-}" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # A private copy: a concurrent rebuild of the shared build tree must not swap the binary mid-test.
  cp "$bin" "$tmp/cohort-finder" || exit 1
  bin="$tmp/cohort-finder"
  python3 "$repo/tests/rest/flatten_bundles.py" "$tmp/bundles.ndjson" "$repo"/fhir-samples/bundles/*.json
  loads=()
  for f in "$repo"/fhir-samples/ndjson/*.ndjson "$tmp/bundles.ndjson"; do loads+=(--load "$f"); done
  REST_FAULTS_INNER=1 REST_FAULTS_TMP="$tmp" \
    "$repo/tests/fhir-server/with-server.sh" "${loads[@]}" -- bash "${BASH_SOURCE[0]}" "$bin" "$repo" "$@"
  exit $?
fi

# ---- inside with-server.sh: FHIR_BASE_URL is the loaded server --------------------------------------------------
tmp=$REST_FAULTS_TMP
work="${REST_FAULTS_KEEP:-$tmp/scenarios}"
mkdir -p "$work"
metrics="$tmp/metrics.jsonl"
: >"$metrics"
t0=$(date +%s.%N)

# A fresh random token: it must reach the configured server only, and appear in no file.
token="cf-fault-token-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
install -m 0600 /dev/null "$tmp/token"
printf '%s\n' "$token" >"$tmp/token"
# Bounded timeouts so that a hang shows as a failure, not a stuck test; read_timeout 1 s for slow-once.
echo '{"connect_timeout_s": 5, "read_timeout_s": 10, "total_timeout_s": 30}' >"$tmp/config.json"
echo '{"connect_timeout_s": 5, "read_timeout_s": 1, "total_timeout_s": 30}' >"$tmp/config-slow.json"

"$bin" run --as-of 2026-11-26 --out "$tmp/files" --ineligible-detail full >/dev/null 2>"$tmp/files.log"
if [ ! -s "$tmp/files/results.ndjson" ]; then
  echo "FAILED: the file-source run produced no results"; cat "$tmp/files.log"
  echo "0 passed, 1 failed"
  exit 1
fi

# name | mode | concurrency | page size | config | expect | incomplete types | failed query type | check_run.py options
scenarios=$(cat <<'TABLE'
none               population 8 25 config      complete   -                             -                   --min-faults 0
none               seed       4 10 config      complete   -                             -                   --min-faults 0
429-seconds        seed       4 10 config      complete   -                             -                   --min-gap 0.95
429-date           population 8 25 config      complete   -                             -                   --min-gap 0.95
503-storm          seed       4 10 config      complete   -                             -                   --min-faults 5
502-504-bursts     population 8 25 config      complete   -                             -                   --min-faults 4
reset-mid-body     seed       4 10 config      complete   -                             -                   --attempts 2
slow-once          seed       4 10 config-slow complete   -                             -                   --attempts 2 --min-gap 0.95 --max-gap 3.5
duplicates         seed       4 10 config      complete   -                             -                   --attempts 1 --issue-kind page-size-exceeded
versionless        population 8 25 config      complete   -                             -                   --min-faults 1 --ignore-versions --older-copies Observation
outcome-warning    population 8 25 config      complete   -                             -                   --issue-kind operation-outcome --log-excludes CANARY-OO
truncated-body     seed       4 10 config      incomplete Observation                   Observation         --attempts 5 --error-text Content-Length
malformed-json     population 8 25 config      incomplete Condition                     Condition           --attempts 1 --error-text not_valid_JSON
next-foreign-host  seed       4 10 config      incomplete MedicationRequest,Medication  MedicationRequest   --error-text leaves_the_server
next-foreign-port  population 8 25 config      incomplete Patient                       Patient             --error-text leaves_the_server
next-outside-base  population 8 25 config      incomplete Condition                     Condition           --error-text leaves_the_FHIR_base_path
next-at-base       population 8 25 config      complete   -                             -                   --min-faults 1
next-loop          seed       4 10 config      incomplete Observation                   Observation         --error-text paging_loop
runaway-empty      population 8 25 config      incomplete Procedure                     Procedure           --error-text empty_pages_in_a_row
runaway-repeat     seed       4 10 config      incomplete Condition                     Condition           --error-text repeats_the_entries
runaway-fresh      population 8 25 config      incomplete Procedure                     Procedure           --error-text but_Bundle.total
outcome-error      population 8 25 config      incomplete Observation                   Observation         --error-text OperationOutcome --log-excludes CANARY-OO
gzip-bomb          population 8 25 config      incomplete MedicationRequest,Medication  MedicationRequest   --attempts 1 --error-text decoded_body_exceeds
oversized-body     seed       4 10 config      incomplete Patient                       Patient             --attempts 1 --error-text body_exceeds_the_limit
500-once           seed       4 10 config      complete   -                             -                   --attempts 2
page-expired       seed       4 10 config      complete   -                             -                   --issue-kind paging-restarted
500-forever        seed       4 10 config      incomplete Procedure                     Procedure           --attempts 5 --error-text HTTP_500
503-forever        population 8 25 config      incomplete MedicationStatement,Medication MedicationStatement --attempts 5 --error-text HTTP_503_after_5_attempt
seed-500           seed       4 10 config      failed     -                             Condition           --min-faults 1
post-refused       seed       4 10 config      incomplete Observation                   Observation         --attempts 1 --error-text not_take_searches_as_POST
TABLE
)

only=("$@")
# seconds T0 T1: the time between two `date +%s.%N` readings (awk: bc is not on a fresh Debian).
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
pass=0
fail=0
while read -r name mode conc page config expect types ftype opts; do
  [ -n "$name" ] || continue
  if [ ${#only[@]} -gt 0 ] && ! printf '%s\n' "${only[@]}" | grep -qx "$name"; then continue; fi
  d="$work/$name-$mode"
  rm -rf "$d"
  mkdir -p "$d"
  node "$repo/tests/fault-server/fault_proxy.js" --upstream "$FHIR_BASE_URL" --scenario "$name" --mode "$mode" \
    --seed "$seed" --record "$d/record.jsonl" --port-file "$d/ports" >"$d/proxy.log" 2>&1 &
  proxy=$!
  for _ in $(seq 1 100); do [ -s "$d/ports" ] && break; sleep 0.05; done
  if [ ! -s "$d/ports" ]; then
    echo "FAILED: $name: the proxy did not start"; cat "$d/proxy.log"
    kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null
    fail=$((fail + 1)); continue
  fi
  read -r port _ <"$d/ports"
  s0=$(date +%s.%N)
  timeout 60 "$bin" run --source "http://127.0.0.1:$port/fhir" --mode "$mode" --auth bearer --token-file "$tmp/token" \
    --concurrency "$conc" \
    --page-size "$page" --config "$tmp/$config.json" --as-of 2026-11-26 --out "$d/out" --ineligible-detail full \
    --log-format json \
    >"$d/stdout" 2>"$d/stderr"
  rc=$?
  s1=$(date +%s.%N)
  kill "$proxy" 2>/dev/null
  wait "$proxy" 2>/dev/null
  baseline="$work/none-$mode/out/manifest.json"
  args=(--scenario "$name" --expect "$expect" --mode "$mode" --rc "$rc" --seconds "$(seconds "$s0" "$s1")"
        --dir "$d" --files "$tmp/files/results.ndjson" --compare "$repo/tests/rest/compare_results.py"
        --token "$token" --proxy-port "$port" --metrics "$metrics")
  [ "$name" != none ] && [ -f "$baseline" ] && args+=(--baseline "$baseline")
  [ "$types" != - ] && args+=(--incomplete-types "$types")
  [ "$ftype" != - ] && args+=(--fault-type "$ftype")
  # Options: underscores in --error-text stand for spaces (the table is whitespace-separated).
  # shellcheck disable=SC2086
  set -- $opts
  while [ $# -gt 0 ]; do
    if [ "$1" = --error-text ]; then args+=("$1" "${2//_/ }"); shift 2; else args+=("$1"); shift; fi
  done
  if python3 "$here/check_run.py" "${args[@]}"; then
    pass=$((pass + 1))
    printf '  ok   %-18s %-10s %-10s exit %s  %5.1f s\n' "$name" "$mode" "$expect" "$rc" "$(seconds "$s0" "$s1")"
  else
    fail=$((fail + 1))
    printf '  FAIL %-18s %-10s %-10s exit %s  (replay: REST_FAULTS_SEED=%s %s BIN REPO %s)\n' "$name" "$mode" \
      "$expect" "$rc" "$seed" "$0" "$name"
    grep -v '"event":"retry"' "$d/stderr" | head -5 | sed 's/^/       /'
  fi
done <<<"$scenarios"

t1=$(date +%s.%N)
python3 - "$metrics" "$seed" "$(seconds "$t0" "$t1")" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
s = lambda k: sum(r[k] for r in rows)
summary = {
    "seed": int(sys.argv[2]), "seconds": round(float(sys.argv[3]), 1),
    "scenarios_run": len(rows),
    "runs_completed_correctly": sum(1 for r in rows if r["passed"] and r["expect"] == "complete"),
    "runs_ended_incomplete_as_expected": sum(1 for r in rows if r["passed"] and r["expect"] != "complete"),
    "requests": s("requests"), "faults_injected": s("faults"), "crashes_or_hangs": s("crash"),
    "resources_lost": s("lost"), "resources_duplicated": s("duplicated"),
    "silent_partial_results": s("silent_partial"), "requests_to_foreign_origins": s("foreign_requests"),
    "credentials_sent_to_foreign_hosts": s("foreign_auth"), "token_in_logs_or_outputs": s("token_leaks"),
}
print("summary " + json.dumps(summary))
print(f"{summary['scenarios_run']} scenarios (seed {summary['seed']}, {summary['seconds']} s): "
      f"{summary['faults_injected']} faults injected in {summary['requests']} requests, "
      f"{summary['crashes_or_hangs']} crashes, {summary['resources_lost']} resources lost, "
      f"{summary['resources_duplicated']} duplicated, {summary['silent_partial_results']} silent partial results, "
      f"{summary['credentials_sent_to_foreign_hosts']} credentials sent to foreign hosts "
      f"({summary['requests_to_foreign_origins']} requests to foreign origins), "
      f"{summary['token_in_logs_or_outputs']} token leaks into logs or outputs")
PY
echo "$pass passed, $fail failed"
test "$fail" -eq 0 && test "$pass" -gt 0
