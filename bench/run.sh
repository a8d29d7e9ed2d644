#!/usr/bin/env bash
# Benchmark of cohort-finder against bare parsing, plain Python and DuckDB on the same synthetic NDJSON.
#
#   bench/run.sh [PATIENTS...]          default: 10000 100000
#
# For each size: generates bench/data/N/ once (cached; deterministic by SEED), then runs, one after another on the
# same files, with /usr/bin/time -v: a line-split-only pass, RapidJSON DOM (ParseInsitu) and SAX parses of every
# line, the plain-Python reference of the simplified query, DuckDB (read_ndjson + SQL, 2 threads) and
# `cohort-finder run` (the full trial definition). Prints one table per size and whether the implementations agree,
# and keeps the logs in bench/data/runs/N/. See bench/README.md for what is and is not comparable.
#
# Environment:
#   SEED (20261126), AS_OF (2026-11-26)     what to generate and evaluate
#   TOOL (build/release/src/cli/cohort-finder), TOOL_LABEL   the binary measured in the tool's row, and its label
#   RUN_TAG                                  logs go to bench/data/runs/N-TAG instead of bench/data/runs/N
#   SKIP                                     rows to skip, space-separated: split dom sax python duckdb tool
#   WAIT_IDLE_S (300)                        before each row, wait this long at most for an idle machine
#   TOOL_MEM_LIMIT_GB (20)                   the tool's address space is capped, so that a run that would exhaust
#                                            the machine's 24 GB fails with "out of memory" in its row instead of
#                                            waking the kernel's OOM killer
# The column "others' CPU s" is the CPU time other processes used while a row ran (from /proc/stat): well above 0,
# the row was measured on a busy machine (single-threaded rows then show wall > CPU; their CPU s stays fair).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SEED=${SEED:-20261126}
AS_OF=${AS_OF:-2026-11-26}
TOOL=${TOOL:-$ROOT/build/release/src/cli/cohort-finder}
TOOL_MEM_LIMIT_GB=${TOOL_MEM_LIMIT_GB:-20}
SKIP=${SKIP:-}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)

say() { printf '%s\n' "$*" >&2; }
skipped() { [[ " $SKIP " == *" $1 "* ]]; }

# ---- prerequisites --------------------------------------------------------------------------------------------
if [ ! -x /usr/bin/time ]; then
  say "installing GNU time (Debian package 'time')"
  apt-get install -y time >/dev/null
fi
cmake -S "$HERE" -B "$HERE/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$HERE/build" >/dev/null
PYTHON=$(python3 -c 'import sys; print(sys.executable)')  # the interpreter itself, not a version-manager shim
HAVE_DUCKDB=1
if ! command -v node >/dev/null; then
  HAVE_DUCKDB=0
elif [ ! -d "$HERE/node_modules/@duckdb/node-api" ]; then
  (cd "$HERE" && npm ci --no-audit --no-fund >/dev/null 2>&1) || HAVE_DUCKDB=0
fi
[ $HAVE_DUCKDB = 1 ] || say "DuckDB row skipped: node or @duckdb/node-api not available (npm ci in bench/)"
if [ ! -x "$TOOL" ]; then
  say "building cohort-finder (release preset)"
  (cd "$ROOT" && cmake --preset release >/dev/null && cmake --build --preset release --target cohort-finder >/dev/null)
fi

# ---- measurement -----------------------------------------------------------------------------------------------
# CPU seconds the whole machine has spent busy so far (user, nice, system, irq, softirq, steal; USER_HZ = 100).
busy_s() { awk '$1 == "cpu" {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / 100; exit}' /proc/stat; }

# Waits (up to WAIT_IDLE_S seconds, default 300) until the machine is idle: less than 0.2 CPU busy over 2 s.
wait_idle() {
  local waited=0 a b
  while :; do
    a=$(busy_s); sleep 2; b=$(busy_s)
    awk -v a="$a" -v b="$b" 'BEGIN {exit !((b - a) / 2 < 0.2)}' && return 0
    waited=$((waited + 2))
    if [ "$waited" -ge "${WAIT_IDLE_S:-300}" ]; then
      say "machine still busy after ${waited} s; measuring anyway (see the others' CPU column)"
      return 0
    fi
  done
}

# measure NAME CMD... : runs CMD under /usr/bin/time -v; stdout to $RUN/NAME.out; sets W (wall s), C (CPU s),
# R (peak RSS MB), X (exit status), O (CPU s that other processes used meanwhile: shows a machine that was not idle).
measure() {
  local name=$1
  shift
  local tf="$RUN/$name.time" b0 b1
  [ "$name" = gen ] || wait_idle
  b0=$(busy_s)
  set +e
  /usr/bin/time -v -o "$tf" "$@" >"$RUN/$name.out" 2>"$RUN/$name.err"
  set -e
  b1=$(busy_s)
  W=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' "$tf")
  C=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$tf")
  R=$(awk -F': ' '/Maximum resident set size/ {printf "%.1f", $2 / 1024}' "$tf")
  X=$(awk -F': ' '/Exit status/ {print $2}' "$tf")
  O=$(awk -v a="$b0" -v b="$b1" -v c="$C" 'BEGIN {o = b - a - c; printf "%.1f", (o < 0 ? 0 : o)}')
}
field() { awk -v k="$1" '$1 == k {print $2; exit}' "$2"; }

row() {  # row LABEL INPUT_BYTES RESOURCES RESULT
  local mb mbs rps
  mb=$(awk -v b="$2" 'BEGIN {printf "%.1f", b / 1e6}')
  mbs=$(awk -v b="$2" -v w="$W" 'BEGIN {printf "%.0f", (w > 0 ? b / 1e6 / w : 0)}')
  rps=$(awk -v n="$3" -v w="$W" 'BEGIN {printf "%.0f", (w > 0 ? n / w : 0)}')
  printf '| %-32s | %9s | %8.2f | %8.2f | %6s | %11s | %8s | %6s | %s |\n' "$1" "$mb" "$W" "$C" "$mbs" "$rps" "$R" "$O" "$4" |
    tee -a "$TABLE"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$mb" "$W" "$C" "$mbs" "$R" "$X" "$O" >>"$TSV"
}

for N in "${SIZES[@]}"; do
  DATA="$HERE/data/$N"
  RUN="$HERE/data/runs/$N${RUN_TAG:+-$RUN_TAG}"
  mkdir -p "$RUN"
  TABLE="$RUN/table.md"
  TSV="$RUN/rows.tsv"
  : >"$TABLE"
  : >"$TSV"
  # Generated again when the seed, the as-of date or the generator (its ground truth) changed.
  if [ ! -f "$DATA/gen-info.txt" ] || [ "$HERE/build/gen_ndjson" -nt "$DATA/gen-info.txt" ] ||
     [ "$(field seed "$DATA/gen-info.txt")" != "$SEED" ] ||
     [ "$(field as_of "$DATA/gen-info.txt")" != "$AS_OF" ]; then
    need_kb=$((N * 56))  # about 51 KB per patient, plus margin
    free_kb=$(df -k --output=avail "$HERE" | tail -1)
    if [ "$free_kb" -lt $((need_kb + 4 * 1024 * 1024)) ]; then
      say "skipping $N patients: needs about $((need_kb / 1024)) MB, $((free_kb / 1024)) MB free"
      continue
    fi
    rm -rf "$DATA"
    mkdir -p "$DATA"
    say "generating $N patients into $DATA"
    measure gen "$HERE/build/gen_ndjson" --patients "$N" --seed "$SEED" --as-of "$AS_OF" --out "$DATA"
    [ "$X" = 0 ] || { say "generator failed: $(cat "$RUN/gen.err")"; exit 1; }
    printf 'generated in %s s wall, %s s CPU, peak RSS %s MB\n' "$W" "$C" "$R" >"$RUN/gen.txt"
  fi
  ALL=("$DATA"/Patient.ndjson "$DATA"/Condition.ndjson "$DATA"/Observation.ndjson "$DATA"/MedicationRequest.ndjson
       "$DATA"/Procedure.ndjson)
  PCO=("$DATA"/Patient.ndjson "$DATA"/Condition.ndjson "$DATA"/Observation.ndjson)
  all_bytes=$(stat -c %s "${ALL[@]}" | awk '{s += $1} END {print s}')
  pco_bytes=$(stat -c %s "${PCO[@]}" | awk '{s += $1} END {print s}')
  all_res=$(field resources "$DATA/gen-info.txt")
  pco_res=$(( $(field Patient "$DATA/gen-info.txt") + $(field Condition "$DATA/gen-info.txt") + $(field Observation "$DATA/gen-info.txt") ))
  expected_sha=$(sha256sum <"$DATA/expected-simplified.txt" | cut -d' ' -f1)
  expected_n=$(wc -l <"$DATA/expected-simplified.txt")
  sync  # write back freshly generated files now, not while a row is being timed
  "$HERE/build/linesplit" "${ALL[@]}" >/dev/null  # warm the page cache (every row reads the same files after it)

  {
    echo
    echo "### $N patients"
    echo
    echo "seed $SEED, as-of $AS_OF; $(awk -v b="$all_bytes" 'BEGIN {printf "%.1f", b / 1e6}') MB in 5 NDJSON files," \
         "$all_res resources ($(field Observation "$DATA/gen-info.txt") Observations);" \
         "simplified query selects $expected_n patients (generator's ground truth)$([ -f "$RUN/gen.txt" ] && echo "; $(cat "$RUN/gen.txt")")."
    echo
    echo "| implementation                   | input MB  |   wall s |    CPU s |   MB/s | resources/s | peak RSS MB | others' CPU s | result |"
    echo "| -------------------------------- | --------: | -------: | -------: | -----: | ----------: | ----------: | ------------: | ------ |"
  } | tee -a "$TABLE"

  if ! skipped split; then
    measure split "$HERE/build/linesplit" "${ALL[@]}"
    lines=$(field lines "$RUN/split.out")
    row "line split only (read + memchr)" "$all_bytes" "$all_res" "lines $lines $([ "$lines" = "$all_res" ] && echo ok || echo MISMATCH)"
  fi
  if ! skipped dom; then
    measure dom "$HERE/build/rapidjson_parse" dom "${ALL[@]}"
    lines=$(field lines "$RUN/dom.out")
    row "RapidJSON ParseInsitu, 1 thread" "$all_bytes" "$all_res" "lines $lines, errors $(field errors "$RUN/dom.out") $([ "$lines" = "$all_res" ] && [ "$X" = 0 ] && echo ok || echo MISMATCH)"
  fi
  if ! skipped sax; then
    measure sax "$HERE/build/rapidjson_parse" sax "${ALL[@]}"
    lines=$(field lines "$RUN/sax.out")
    row "RapidJSON SAX, 1 thread" "$all_bytes" "$all_res" "lines $lines, errors $(field errors "$RUN/sax.out") $([ "$lines" = "$all_res" ] && [ "$X" = 0 ] && echo ok || echo MISMATCH)"
  fi
  if ! skipped python; then
    measure python "$PYTHON" "$HERE/reference.py" --source "$DATA" --as-of "$AS_OF" --ids-out "$RUN/python-ids.txt"
    sha=$(field sha256 "$RUN/python.out")
    row "Python json.loads (P, C, O)" "$pco_bytes" "$pco_res" "selected $(field selected "$RUN/python.out") $([ "$sha" = "$expected_sha" ] && echo "= ground truth" || echo "DIFFERS (exit $X)")"
  fi
  if ! skipped duckdb && [ $HAVE_DUCKDB = 1 ]; then
    measure duckdb node "$HERE/duckdb_query.mjs" --source "$DATA" --as-of "$AS_OF" --threads 2 --ids-out "$RUN/duckdb-ids.txt"
    sha=$(field sha256 "$RUN/duckdb.out")
    row "DuckDB $(awk '$1 == "duckdb" {print $2}' "$RUN/duckdb.out"), 2 threads (P, C, O)" "$pco_bytes" "$pco_res" "selected $(field selected "$RUN/duckdb.out") $([ "$sha" = "$expected_sha" ] && echo "= ground truth" || echo "DIFFERS (exit $X)")"
  fi
  if ! skipped tool; then
    OUT="${TMPDIR:-/tmp}/cohort-bench-out-$N"
    rm -rf "$OUT" "$RUN/compare.out"
    # Capped address space, and first in line for the OOM killer: a run too big for the machine fails, not others.
    measure tool bash -c 'ulimit -v $(( $1 * 1024 * 1024 )); echo 1000 >/proc/self/oom_score_adj 2>/dev/null
                          exec "$2" run --source "$3" --as-of "$4" --out "$5"' _ \
      "$TOOL_MEM_LIMIT_GB" "$TOOL" "$DATA" "$AS_OF" "$OUT"
    if [ "$X" = 0 ] || [ "$X" = 5 ]; then
      "$PYTHON" "$HERE/compare_tool.py" --results "$OUT/results.ndjson" --expected "$DATA/expected-simplified.txt" \
        --conditions "$DATA/Condition.ndjson" \
        >"$RUN/compare.out" || true
      cp "$OUT/manifest.json" "$RUN/tool-manifest.txt"
      du -b "$OUT"/* >"$RUN/tool-outputs.txt"
      result="tiers $(field tool_eligible "$RUN/compare.out")/$(field tool_possible "$RUN/compare.out")/$(field tool_ineligible "$RUN/compare.out") (e/p/i); T_strict $(field T_strict "$RUN/compare.out") $([ "$(field T_strict_equals_S "$RUN/compare.out")" = yes ] && echo "= ground truth" || echo DIFFERS)"
    elif grep -qiE "bad_alloc|memory" "$RUN/tool.err"; then
      result="FAILED: out of memory under a ${TOOL_MEM_LIMIT_GB} GB cap (exit $X)"
    else
      result="FAILED (exit $X): $(head -c 200 "$RUN/tool.err" | tr '\n' ' ')"
    fi
    row "${TOOL_LABEL:-cohort-finder run (full trial)}" "$all_bytes" "$all_res" "$result"
    rm -rf "$OUT"
  fi
  {
    echo
    if [ -f "$RUN/compare.out" ] && ! skipped tool; then
      echo "cohort-finder vs the simplified set S ($expected_n): candidates T (eligible+possible) $(field T "$RUN/compare.out")," \
           "S and T $(field S_and_T "$RUN/compare.out"), S not T $(field S_not_T "$RUN/compare.out")" \
           "(deciding: $(field S_not_T_deciding "$RUN/compare.out")), T not S $(field T_not_S "$RUN/compare.out")."
    fi
    # Targets of issue 5 (wall-time ratios; the tool must be this many times faster).
    # The tool's row is found by its label, whatever TOOL_LABEL says (a label not starting "cohort-finder"
    # once read as a tool that did not complete).
    awk -F'\t' -v n="$N" -v tool_label="${TOOL_LABEL:-cohort-finder run (full trial)}" '
      $1 == tool_label {tool = $3; tool_rss = $6; tool_x = $7}
      $1 ~ /^DuckDB/ {duck = $3}
      $1 ~ /^Python/ {py = $3}
      $1 ~ /^RapidJSON ParseInsitu/ {dom = $3}
      END {
        if (tool == "" || (tool_x != 0 && tool_x != 5)) {print "Targets: the tool did not complete."; exit}
        printf "Targets (wall time, cohort-finder %.2f s):", tool
        if (duck != "") printf " vs DuckDB %.2fx (target >= 2: %s);", duck / tool, (duck / tool >= 2 ? "met" : "NOT met")
        if (py != "") printf " vs Python %.1fx (target >= 20: %s);", py / tool, (py / tool >= 20 ? "met" : "NOT met")
        if (dom != "") printf " vs RapidJSON DOM %.2fx (target >= 5: %s);", dom / tool, (dom / tool >= 5 ? "met" : "NOT met")
        limit = (n == 100000 ? 250 : (n == 500000 ? 1024 : 0))
        if (limit) printf " peak RSS %.0f MB (target < %d MB: %s).", tool_rss, limit, (tool_rss < limit ? "met" : "NOT met")
        printf "\n"
      }' "$TSV"
  } | tee -a "$TABLE"
done
