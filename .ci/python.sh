#!/usr/bin/env bash
# Python side of the test setup: a virtualenv at .cache/venv holding chDB
# (the ClickHouse engine in-process), used by the Go tests for every DDL
# statement and cookbook query.
#
#   .ci/python.sh          create/refresh the venv if needed, print the python path
#   .ci/python.sh --path   only print the python path (no install)
#
# Idempotent and cached: when `import chdb` already works in the venv with the
# pinned version, nothing is downloaded. Tests find the interpreter through
#   LEARNSTREAM_CHDB_PYTHON=<repo>/.cache/venv/bin/python
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${LEARNSTREAM_VENV:-$ROOT/.cache/venv}"
CHDB_VERSION="${CHDB_VERSION:-4.4.0}"
PY="$VENV/bin/python"

log() { echo "[python.sh] $*" >&2; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ "${1:-}" == "--path" ]]; then
  echo "$PY"
  exit 0
fi

have_chdb() {
  [[ -x "$PY" ]] || return 1
  "$PY" - "$CHDB_VERSION" <<'PYEOF' >/dev/null 2>&1
import sys
import importlib.metadata as md
import chdb
if md.version("chdb") != sys.argv[1]:
    sys.exit(1)
chdb.query("SELECT 1", "CSV")
PYEOF
}

if have_chdb; then
  log "chdb $CHDB_VERSION ready in $VENV (cached)"
  echo "$PY"
  exit 0
fi

# one installer at a time (several test runs may share the checkout)
mkdir -p "$(dirname "$VENV")"
if command -v flock >/dev/null; then
  exec 9>"$VENV.lock"
  flock 9
  if have_chdb; then
    log "chdb $CHDB_VERSION ready in $VENV (installed by another run)"
    echo "$PY"
    exit 0
  fi
fi

PYTHON3="${PYTHON3:-python3}"
command -v "$PYTHON3" >/dev/null || { log "python3 not found"; exit 1; }

if [[ ! -x "$PY" ]]; then
  log "creating virtualenv $VENV"
  if ! "$PYTHON3" -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv support in a separate package.
    rm -rf "$VENV"
    log "python3 -m venv failed; python3-venv is missing"
    apt_install python3-venv || { log "install python3-venv"; exit 1; }
    "$PYTHON3" -m venv "$VENV"
  fi
fi

log "installing chdb==$CHDB_VERSION into $VENV"
# pip's download cache goes under .cache too, not to ~/.cache/pip
PIP_CACHE_DIR="$ROOT/.cache/pip" "$PY" -m pip install --disable-pip-version-check --no-input -q "chdb==$CHDB_VERSION"

if ! have_chdb; then
  log "chdb $CHDB_VERSION installed but 'import chdb; chdb.query(\"SELECT 1\")' fails:"
  "$PY" -c 'import chdb; print(chdb.query("SELECT 1", "CSV"))' >&2 || true
  exit 1
fi
log "chdb $CHDB_VERSION ready"
echo "$PY"
