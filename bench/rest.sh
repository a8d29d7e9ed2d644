#!/usr/bin/env bash
# REST pull benchmark (issue 5, part 3): the tool against the project's FHIR test server (tests/fhir-server,
# Medplum's in-memory FHIR R4 server on 127.0.0.1), with 1, 4 and 8 connections. Prints, per run: pages,
# resources, wall seconds, requests per second, and the client's CPU time per page, next to the server's CPU
# time, to show which side bounds the pull.
#
#   bench/rest.sh [PATIENTS]     default 500 synthetic patients (bench/build/gen_ndjson), population mode
#
# Environment: PAGE_SIZE (50), TOOL (build/release/src/cli/cohort-finder), CONCURRENCY ("1 4 8").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
N=${1:-500}
PAGE_SIZE=${PAGE_SIZE:-50}
TOOL=${TOOL:-$ROOT/build/release/src/cli/cohort-finder}
CONCURRENCY=${CONCURRENCY:-"1 4 8"}
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
cmake -S "$HERE" -B "$HERE/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$HERE/build" >/dev/null
if [ ! -x "$TOOL" ]; then
  (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release --target cohort-finder >/dev/null)
fi
[ -d "$ROOT/tests/fhir-server/node_modules" ] || (cd "$ROOT/tests/fhir-server" && npm ci --no-audit --no-fund >/dev/null)
data="$HERE/data/rest-$N"
if [ ! -d "$data" ]; then
  mkdir -p "$data"
  "$HERE/build/gen_ndjson" --patients "$N" --seed 20261126 --as-of 2026-11-26 --out "$data" >/dev/null
fi
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
loads=()
for f in "$data"/*.ndjson; do loads+=(--load "$f"); done

cat >"$work/inner.sh" <<SCRIPT
set -u
server_pid=\$(pgrep -n -f "tests/fhir-server/server.js")
server_cpu() { awk '{printf "%.2f", (\$14 + \$15) / 100}' /proc/\$server_pid/stat; }
# The client's fixed work (mappings, evaluation, outputs), measured on the same data from files, is taken off
# its CPU time to give the cost of pulling; a first unmeasured run warms the server's JIT.
/usr/bin/time -f "%U %S" -o "$work/time.files" "$TOOL" run --source "$data" --as-of 2026-11-26 --out "$work/files" >/dev/null 2>&1
read -r fu fs <"$work/time.files"
"$TOOL" run --source "\$FHIR_BASE_URL" --mode population --page-size $PAGE_SIZE --as-of 2026-11-26 --out "$work/warm" >/dev/null 2>&1
printf '%-12s %6s %9s %7s %9s %14s %14s %14s\n' connections pages resources wall_s req_per_s client_ms/page pull_ms/page server_ms/page
for c in $CONCURRENCY; do
  s0=\$(server_cpu)
  /usr/bin/time -f "%e %U %S" -o "$work/time.\$c" "$TOOL" run --source "\$FHIR_BASE_URL" --mode population \\
    --concurrency \$c --page-size $PAGE_SIZE --as-of 2026-11-26 --out "$work/out.\$c" --log-format json \\
    >/dev/null 2>"$work/log.\$c"
  s1=\$(server_cpu)
  read -r wall user sys <"$work/time.\$c"
  summary=\$(grep '"pull-summary"' "$work/log.\$c" | tail -1)
  pages=\$(sed -E 's/.* ([0-9]+) pages.*/\1/' <<<"\$summary")
  resources=\$(sed -E 's/.* ([0-9]+) resources.*/\1/' <<<"\$summary")
  awk -v c=\$c -v p=\$pages -v r=\$resources -v w=\$wall -v u=\$user -v s=\$sys -v a=\$s0 -v b=\$s1 \
    -v f=\$(awk -v x=\$fu -v y=\$fs 'BEGIN{print x+y}') 'BEGIN {
    pull = (u + s - f) * 1000 / p; if (pull < 0) pull = 0
    printf "%-12s %6d %9d %7.2f %9.1f %14.2f %14.2f %14.2f\n", c, p, r, w, p / w, (u + s) * 1000 / p, pull, (b - a) * 1000 / p }'
done
SCRIPT
echo "bench/rest.sh: $N patients ($(cat "$data"/*.ndjson | wc -l) resources) loaded into the test FHIR server; population mode, page size $PAGE_SIZE" >&2
"$ROOT/tests/fhir-server/with-server.sh" "${loads[@]}" -- bash "$work/inner.sh"
# The results agree whatever the number of connections (evidence locations name the page a resource came
# on, which depends on how the queries were batched, and are ignored; tests/rest/compare_results.py).
# With the file source over the same NDJSON too.
set -- $CONCURRENCY
for c in "$@"; do
  python3 "$ROOT/tests/rest/compare_results.py" "$work/files/results.ndjson" "$work/out.$c/results.ndjson" >/dev/null ||
    { echo "results from $c connections differ from the file source" >&2; exit 1; }
done
echo "results.ndjson equal to the file source's for connections: $CONCURRENCY (evidence locations aside)" >&2
