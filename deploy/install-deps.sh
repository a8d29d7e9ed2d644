#!/usr/bin/env bash
# Installs everything cohort-finder needs from Debian 12 packages (run as root).
#   deploy/install-deps.sh                 build and run dependencies
#   deploy/install-deps.sh --with-tests    also what the test suite needs (clang for fuzzing, Node.js for the
#                                          FHIR test server, openssl for throwaway certificates)
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
      libboost-dev libboost-test-dev rapidjson-dev libssl-dev libsqlite3-dev zlib1g-dev)
if [ "$with_tests" = 1 ]; then
  pkgs+=(clang libclang-rt-14-dev clang-format openssl python3 python3-yaml curl chromium)
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
  # The FHIR test server (Medplum 4.5.2) needs Node.js >= 20.19.
  v=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number);console.log(a>20||(a==20&&b>=19)?"ok":process.versions.node)')
  [ "$v" = ok ] || echo "install-deps.sh: WARNING: Node.js $v is older than 20.19; the REST integration tests will be skipped" >&2
fi
