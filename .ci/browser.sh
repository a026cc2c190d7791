#!/usr/bin/env bash
# Browser test setup: the SCORM run-time bundle embedded in the binary
# (make player-assets, npm) and Debian's headless chromium for the
# chromedp tests. Like the Kafka jars, installed when missing and when we
# may (root + apt-get); otherwise the browser tests skip and say why.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { echo "[browser.sh] $*" >&2; }

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rc=0
if [[ ! -f "$ROOT/api/player/assets/scorm-again.min.js" ]]; then
  command -v npm >/dev/null || apt_install npm || log "npm missing: the SCORM player bundle cannot be built"
  make -C "$ROOT" --no-print-directory player-assets >&2 || { log "make player-assets failed"; rc=1; }
fi
# The test cmi5 AU is built on the @xapi/cmi5 library (its browser build).
CMI5_VERSION=1.4.0
if [[ ! -f "$ROOT/.cache/npm/xapi-cmi5/Cmi5.umd.js" ]] && command -v npm >/dev/null; then
  mkdir -p "$ROOT/.cache/npm/xapi-cmi5"
  tgz="$ROOT/.cache/npm/xapi-cmi5-$CMI5_VERSION.tgz"
  [[ -f "$tgz" ]] || npm pack --silent --pack-destination "$ROOT/.cache/npm" "@xapi/cmi5@$CMI5_VERSION" >&2 || { log "npm pack @xapi/cmi5 failed"; rc=1; }
  if [[ -f "$tgz" ]]; then
    tar -xzf "$tgz" -C "$ROOT/.cache/npm/xapi-cmi5" --strip-components=2 package/dist/Cmi5.umd.js || rc=1
  fi
fi
# The AsyncAPI document test runs the official parser with node.
if command -v npm >/dev/null; then
  make -C "$ROOT" --no-print-directory asyncapi-parser >&2 || { log "npm install @asyncapi/parser failed"; rc=1; }
fi
if ! command -v chromium >/dev/null; then
  apt_install chromium || { log "chromium missing and not installable here: browser tests will skip"; rc=1; }
fi
exit "$rc"
