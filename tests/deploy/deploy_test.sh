#!/usr/bin/env bash
# deploy/ files parse, and every option they pass to cohort-finder exists and validates (run --check).
set -u
bin=$(readlink -f "$1")
repo=$(readlink -f "$2")
pass=0
fail=0
check() {
  local name="$1"
  shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAILED: $name"; fi
}
d="$repo/deploy"
help=$("$bin" help run; "$bin" help explain; "$bin" help feedback; "$bin" help history; "$bin" help merge)
# A python3 that has PyYAML: the one on PATH, or Debian's (python3-yaml, installed by install-deps.sh --with-tests).
py=python3
python3 -c "import yaml" 2>/dev/null || py=/usr/bin/python3
check "kubernetes manifests parse as YAML" "$py" -c "
import sys, yaml
docs = list(yaml.safe_load_all(open(sys.argv[1])))
kinds = [x['kind'] for x in docs]
assert kinds == ['PersistentVolumeClaim', 'CronJob'], kinds
job = docs[1]['spec']
assert job['concurrencyPolicy'] == 'Forbid'
pod = job['jobTemplate']['spec']['template']['spec']
assert pod['securityContext']['runAsNonRoot'] is True
c = pod['containers'][0]
assert 'env' not in c, 'secrets never in the environment (H2)'
secret = [v for v in pod['volumes'] if 'secret' in v]
assert secret and secret[0]['secret']['defaultMode'] == 0o400, secret
mount = [m for m in c['volumeMounts'] if m['name'] == secret[0]['name']][0]
assert mount['readOnly'] and mount['mountPath'] == '/run/secrets/cohort-finder', mount
assert pod['securityContext']['runAsGroup'] == pod['securityContext']['fsGroup']
assert pod['volumes'][0]['persistentVolumeClaim']['claimName'] == docs[0]['metadata']['name']
print(' '.join(c['args']), file=open(sys.argv[2], 'w'))
" "$d/kubernetes/cronjob.yaml" "$(mktemp)"
check "systemd units parse" python3 -c "
import configparser, sys
for f in sys.argv[1:]:
    c = configparser.ConfigParser(strict=False, interpolation=None); c.optionxform = str; c.read(f)
    assert c.sections(), f
svc = configparser.ConfigParser(strict=False, interpolation=None); svc.optionxform = str; svc.read(sys.argv[1])
assert svc['Service']['User'] != 'root' and 'EnvironmentFile' not in svc['Service']
assert svc['Service']['LoadCredential'].startswith('fhir-token:')
tim = configparser.ConfigParser(strict=False, interpolation=None); tim.optionxform = str; tim.read(sys.argv[2])
assert 'OnCalendar' in tim['Timer']
" "$d/systemd/cohort-finder.service" "$d/systemd/cohort-finder.timer"
check "Dockerfile is multi-stage, Debian 12, non-root, state on a volume" bash -c "
  grep -q '^FROM debian:12 AS build' '$d/Dockerfile' && grep -q '^FROM debian:12-slim' '$d/Dockerfile' &&
  grep -q '^USER cohort' '$d/Dockerfile' && grep -q '^VOLUME' '$d/Dockerfile' && grep -q 'deploy/install-deps.sh' '$d/Dockerfile'"
# Every --option used by a deploy file exists in `cohort-finder help run`.
check "sharded Indexed Job parses" "$py" -c "
import sys, yaml
cron, merge = list(yaml.safe_load_all(open(sys.argv[1])))
job = cron['spec']['jobTemplate']['spec']
assert job['completionMode'] == 'Indexed' and job['parallelism'] == job['completions']
n = job['completions']
cmd = ' '.join(job['template']['spec']['containers'][0]['args'])
assert '--shard' in cmd and '/%d\"' % n in cmd, cmd
margs = merge['spec']['template']['spec']['containers'][0]['args']
assert margs[0] == 'merge' and len(margs) == 3 + n, margs
" "$d/kubernetes/sharded-job.yaml"
for f in "$d/Dockerfile" "$d/systemd/cohort-finder.service" "$d/kubernetes/cronjob.yaml" "$d/kubernetes/sharded-job.yaml" \
         "$repo/README.md"; do
  for opt in $(grep -o -- '--[a-z][a-z-]*' "$f" | sort -u); do
    case "$opt" in --preset|--build|--with-tests|--no-install-recommends|--system|--uid|--home-dir|--shell|--from|--target) continue ;; esac
    check "$(basename "$f") passes $opt, which cohort-finder knows" grep -q -- "$opt" <<<"$help"
  done
done
# The deployed command validates with the example config (paths overridden to this checkout).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "token" >"$tmp/token"
chmod 600 "$tmp/token"
sed "s#/run/secrets/cohort-finder/token#$tmp/token#" "$d/config.example.json" >"$tmp/config.json"
check "run --config deploy/config.example.json --check" "$bin" run --config "$tmp/config.json" --trial "$repo/mappings/trials/nct07177911.json" \
  --mappings "$repo/mappings" --state "$tmp/state" --out "$tmp/out" --check true
chmod 644 "$tmp/token"
refused=$("$bin" run --config "$tmp/config.json" --trial "$repo/mappings/trials/nct07177911.json" --mappings "$repo/mappings" \
  --state "$tmp/state" --out "$tmp/out" --check true 2>&1)
check "a token file others can read is refused" test $? -ne 0
check "the refusal names the file and the fix" grep -q "token file $tmp/token: can be read or changed by other users: chmod 600" <<<"$refused"
chmod 600 "$tmp/token"
refused=$(COHORT_FHIR_TOKEN=x "$bin" run --config "$tmp/config.json" --trial "$repo/mappings/trials/nct07177911.json" \
  --mappings "$repo/mappings" --state "$tmp/state" --out "$tmp/out" --check true 2>&1)
check "a token in the environment is refused" test $? -ne 0
check "the refusal says why" grep -q "COHORT_FHIR_TOKEN is set: secrets are not read from the environment" <<<"$refused"
# systemd credentials: fhir-token in $CREDENTIALS_DIRECTORY stands in for token_file.
mkdir -m 700 "$tmp/creds" && sed '/token_file/d' "$tmp/config.json" >"$tmp/config-creds.json"
"$bin" run --config "$tmp/config-creds.json" --trial "$repo/mappings/trials/nct07177911.json" --mappings "$repo/mappings" \
  --state "$tmp/state" --out "$tmp/out" --check true >/dev/null 2>&1
check "bearer auth without a token file is refused" test $? -ne 0
install -m 0600 "$tmp/token" "$tmp/creds/fhir-token"
CREDENTIALS_DIRECTORY="$tmp/creds" "$bin" run --config "$tmp/config-creds.json" \
  --trial "$repo/mappings/trials/nct07177911.json" --mappings "$repo/mappings" --state "$tmp/state" --out "$tmp/out" \
  --check true >/dev/null 2>&1
check "the systemd credential fhir-token is used when no token_file is set" test $? -eq 0
check "a secret in the config file is refused" bash -c "echo '{\"token\":\"x\"}' >'$tmp/bad.json'; ! '$bin' run --config '$tmp/bad.json' --check true 2>/dev/null"
echo "$pass passed, $fail failed"
test "$fail" -eq 0
