#!/usr/bin/env bash
# Builds and runs every test: the release build (warnings as errors) and the ASan/UBSan build of the whole suite.
# Usage: tests/run-all.sh            (from the repository root; deploy/install-deps.sh --with-tests first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=${JOBS:-$(nproc)}
status=0
for preset in release asan-ubsan; do
  echo "== $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== $preset: tests"
  if ! ctest --preset "$preset" -j "$jobs" --timeout 900; then status=1; fi
done
exit $status
