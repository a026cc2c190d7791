#!/usr/bin/env bash
# ADL's LRS conformance suite against a fresh learnstream, once per xAPI version.
#
#   .ci/conformance.sh setup        copy the suite into .cache and install its npm
#                                   dependencies (cached by package.json hash)
#   .ci/conformance.sh run [VER...] build learnstream, and for each version (default
#                                   $CONFORMANCE_VERSIONS) start a fresh server with an
#                                   empty data dir, run the whole suite, read its JSON
#                                   report and print "xAPI VER: N passed, M failed"
#
# The verdict comes from the suite's JSON report (summary.total/passed/failed),
# never from its exit code (which is the failure count modulo 256). The run
# fails when any test failed or the report is missing.
#
# Environment:
#   LEARNSTREAM_CONFORMANCE_SUITE  the suite's source folder (default: the copy in
#                                  the shared folder beside the checkout,
#                                  ../shared/conformance/adl-lrs-conformance-test-suite)
#   CONFORMANCE_VERSIONS           versions to run (default "1.0.3 2.0.0")
#   CONFORMANCE_TIMEOUT            seconds one version's run may take (default 900)
#   CONFORMANCE_KEEP               1 keeps the server logs and data dirs under .cache/conformance/runs
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/conformance"
SRC="${LEARNSTREAM_CONFORMANCE_SUITE:-$ROOT/../shared/conformance/adl-lrs-conformance-test-suite}"
VERSIONS="${CONFORMANCE_VERSIONS:-1.0.3 2.0.0}"
TIMEOUT="${CONFORMANCE_TIMEOUT:-900}"
GO="${GO:-go}"

log() { echo "[conformance] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

suite_dir() {
  local h
  h="$(cat "$SRC/package.json" "$SRC/version.js" 2>/dev/null | sha256sum | cut -c1-16)"
  echo "$CACHE/suite-$h"
}

setup() {
  [[ -f "$SRC/bin/console_runner.js" ]] || die "no conformance suite at $SRC (set LEARNSTREAM_CONFORMANCE_SUITE)"
  command -v node >/dev/null || die "node is not installed"
  command -v npm >/dev/null || die "npm is not installed"
  local dir
  dir="$(suite_dir)"
  mkdir -p "$dir"
  # Sources are copied every time (cheap, and the shared copy is read-only);
  # node_modules stay cached beside them.
  (cd "$SRC" && find . -path ./node_modules -prune -o -path ./logs -prune -o -type f -print0 |
    xargs -0 -I{} install -D -m 0644 {} "$dir/{}")
  if [[ ! -f "$dir/node_modules/.learnstream-ok" ]]; then
    log "installing the suite's npm dependencies into ${dir#"$ROOT"/}"
    # npm's download cache under .cache too, not ~/.npm
    (cd "$dir" && npm_config_cache="$ROOT/.cache/npm" npm install --no-audit --no-fund --loglevel=error >&2) || die "npm install failed"
    touch "$dir/node_modules/.learnstream-ok"
  fi
  echo "$dir"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# report FILE VERSION: prints the failed tests and the summary; exit 1 unless all passed
report() {
  python3 - "$1" "$2" <<'PYEOF'
import json, sys
path, version = sys.argv[1], sys.argv[2]
with open(path) as f:
    doc = json.load(f)
s = doc.get("summary") or {}
total, passed, failed = s.get("total", 0), s.get("passed", 0), s.get("failed", 0)
failures = []
def walk(n, trail):
    if isinstance(n, dict):
        title = n.get("title") or n.get("name") or ""
        here = trail + ([title] if title else [])
        if n.get("error"):
            failures.append((" > ".join(here)[-240:], str(n.get("error")).splitlines()[0][:240]))
        for k in ("log", "tests", "suites", "children"):
            if isinstance(n.get(k), (list, dict)):
                walk(n[k], here)
    elif isinstance(n, list):
        for x in n:
            walk(x, trail)
walk(doc.get("log"), [])
for title, err in failures[:60]:
    print(f"  FAILED {title}\n         {err}")
secs = (doc.get("duration") or 0) / 1000
print(f"xAPI {version} conformance: total {total}, passed {passed}, failed {failed} ({secs:.0f} s)")
sys.exit(0 if total > 0 and failed == 0 and passed == total else 1)
PYEOF
}

run_version() { # suite_dir bin version
  local dir="$1" bin="$2" ver="$3" run port pid rc=0 before after log
  run="$CACHE/runs/$ver.$$"
  rm -rf "$run"
  mkdir -p "$run"
  port="$(free_port)"
  local secret
  secret="conformance-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  LEARNSTREAM_ADMIN_KEY=conformance LEARNSTREAM_ADMIN_SECRET="$secret" \
    "$bin" serve --data-dir "$run/data" --http "127.0.0.1:$port" --broker-listen 127.0.0.1:0 \
    >"$run/server.log" 2>&1 &
  pid=$!
  local i
  for i in $(seq 1 120); do
    curl -fsS "http://127.0.0.1:$port/xapi/about" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { tail -20 "$run/server.log" >&2; die "learnstream exited before serving"; }
    sleep 0.5
  done
  mkdir -p "$dir/logs"
  before="$(ls "$dir/logs" 2>/dev/null | sort)"
  log "xAPI $ver: running the suite against a fresh server on 127.0.0.1:$port"
  (cd "$dir" && timeout "$TIMEOUT" node bin/console_runner.js -x "$ver" -e "http://127.0.0.1:$port/xapi" \
    -a -u conformance -p "$secret" >"$run/suite.out" 2>&1) || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  after="$(ls "$dir/logs" 2>/dev/null | sort)"
  log="$(comm -13 <(echo "$before") <(echo "$after") | head -1)"
  if [[ -z "$log" ]]; then
    tail -30 "$run/suite.out" >&2
    die "xAPI $ver: the suite wrote no report (timed out after ${TIMEOUT}s?)"
  fi
  mv "$dir/logs/$log" "$run/report.json"
  report "$run/report.json" "$ver" || rc=1
  if ((rc)); then
    log "server log: ${run#"$ROOT"/}/server.log; report: ${run#"$ROOT"/}/report.json"
  elif [[ "${CONFORMANCE_KEEP:-}" != 1 ]]; then
    rm -rf "$run"
  fi
  return $rc
}

case "${1:-run}" in
  setup)
    setup >/dev/null
    ;;
  run)
    shift || true
    (($#)) && VERSIONS="$*"
    dir="$(setup)"
    mkdir -p "$CACHE/bin"
    "$GO" build -o "$CACHE/bin/learnstream" ./cmd/learnstream
    rc=0
    for v in $VERSIONS; do
      run_version "$dir" "$CACHE/bin/learnstream" "$v" || rc=1
    done
    exit $rc
    ;;
  *)
    echo "usage: $0 setup|run [VERSION...]" >&2
    exit 2
    ;;
esac
