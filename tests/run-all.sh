#!/usr/bin/env bash
# Builds and runs every test:
#   1. release build (warnings as errors): the whole ctest suite;
#   2. ASan + UBSan build: the whole ctest suite again;
#   3. clang libFuzzer build: each fuzz target for FUZZ_SECONDS (default 30) over its committed seed corpus.
# Usage: tests/run-all.sh            (from the repository root; deploy/install-deps.sh --with-tests first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-30}
status=0
echo "== clang-format"
if git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' | xargs clang-format --dry-run --Werror 2>/dev/null; then
  echo "format: 1 passed, 0 failed"
else
  echo "format: 0 passed, 1 failed (run clang-format -i on the files above)"
  git ls-files 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' | xargs clang-format --dry-run --Werror 2>&1 | head -20
  status=1
fi
for preset in release asan-ubsan; do
  echo "== $preset: configure and build"
  # A program some tests need but missing fails here rather than leaving those tests out.
  cmake --preset "$preset" -DCOHORT_REQUIRE_TEST_TOOLS=ON >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== $preset: tests"
  if ! ctest --preset "$preset" -j "$jobs" --timeout 900; then status=1; fi
done

echo "== fuzz: configure and build (clang, libFuzzer + ASan/UBSan)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs" --target fuzz_all
fuzz_pass=0
fuzz_fail=0
for target in build/fuzz/tests/fuzz/fuzz_*; do
  name=$(basename "$target")
  corpus="tests/fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  # New inputs go to the temporary first directory; the committed corpus is only read.
  if (cd "$work" && "$OLDPWD/$target" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=10 \
        "$work" "$OLDPWD/$corpus" >"$work/log" 2>&1); then
    echo "$name: $(grep -o 'Done [0-9]* runs' "$work/log" | head -1), 0 crashes"
    fuzz_pass=$((fuzz_pass + 1))
  else
    echo "$name: FAILED"
    tail -40 "$work/log"
    # The input that failed, written by libFuzzer into $work (deleted below): kept in the log to reproduce it.
    for input in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
      [ -f "$input" ] || continue
      echo "$name: input $(basename "$input"), $(wc -c <"$input") bytes, base64:"
      base64 -w 100 "$input" | head -200
    done
    fuzz_fail=$((fuzz_fail + 1))
    status=1
  fi
  rm -rf "$work"
done
echo "fuzz: $fuzz_pass passed, $fuzz_fail failed"
exit $status
