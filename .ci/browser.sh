#!/usr/bin/env bash
# Browser test setup: the SCORM run-time bundle embedded in the binary
# (make player-assets, npm) and Debian's headless chromium for the
# chromedp tests. Like the Kafka jars, installed when missing and when we
# may (root + apt-get); otherwise the browser tests skip and say why.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { echo "[browser.sh] $*" >&2; }

apt_install() { # package...
  [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null || return 1
  log "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

rc=0
if [[ ! -f "$ROOT/api/player/assets/scorm-again.min.js" ]]; then
  command -v npm >/dev/null || apt_install npm || log "npm missing: the SCORM player bundle cannot be built"
  make -C "$ROOT" --no-print-directory player-assets >&2 || { log "make player-assets failed"; rc=1; }
fi
if ! command -v chromium >/dev/null; then
  apt_install chromium || { log "chromium missing and not installable here: browser tests will skip"; rc=1; }
fi
exit "$rc"
