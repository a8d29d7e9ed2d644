#!/usr/bin/env bash
# Peak memory of one Bulk read with a large file: tests/bulk/bulk_driver (app::run over a BulkSource) against
# big_export_server.py (10 Patients and MB megabytes of Observation lines the line filter skips, so the pipeline
# keeps nothing of them and the peak is what the download itself holds). Not a ctest: run by hand to compare
# builds.
# Usage: peak_rss.sh BULK_DRIVER REPO [MB] [--gzip]   (PEAK_RSS_DRIVER_ARGS: more driver options, e.g.
#        "--max-body-mb 8192 --total-timeout-s 600" for files over the client's default 512 MiB cap)
# Prints "peak_rss_kb=<n> elapsed=<s> exit=<rc> read=<read_by_type> bytes=<bytes counted by BulkSource>".
set -u
drv=$(readlink -f "$1")
repo=$(readlink -f "$2")
mb=${3:-400}
gz=${4:-}
tmp=$(mktemp -d)
trap 'kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null; rm -rf "$tmp"' EXIT
python3 "$repo/tests/bulk/big_export_server.py" --port-file "$tmp/port" --mb "$mb" $gz &
srv=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.05; done
port=$(cat "$tmp/port")
/usr/bin/time -f "%M %e" -o "$tmp/time" "$drv" --repo "$repo" --out "$tmp/out" --summary "$tmp/summary.json" \
  --base "http://127.0.0.1:$port/fhir" --concurrency 2 --poll-ms 50 --min-poll-ms 20 ${PEAK_RSS_DRIVER_ARGS:-} 2>"$tmp/stderr"
rc=$?
read -r rss secs <"$tmp/time"
summary=$(python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print('read=' + json.dumps(s.get('read_by_type')).replace(' ', ''), 'bytes=' + str(s.get('counters', {}).get('bytes')))" "$tmp/summary.json" 2>/dev/null)
echo "peak_rss_kb=$rss elapsed=${secs}s exit=$rc $summary"
[ "$rc" -eq 0 ] || tail -5 "$tmp/stderr"
