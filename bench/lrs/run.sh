#!/usr/bin/env bash
# Side-by-side ingest benchmark (issue 16): `learnstream bench ingest`
# against, in turn,
#   floor        a bare Go net/http handler that only reads the body
#                (bench/lrs/floor),
#   learnstream  `serve` with every role, embedded broker,
#   ls-api       `serve --roles api`,
#   ralph        Ralph, the Python LRS of Open edX (PyPI ralph-malph, LRS
#                extra), file-system backend, patched to store more than
#                one POST (bench/lrs/ralph-fs-append.patch),
# with the same loads, each from a fresh data directory and for a bounded
# time, then one table. Everything listens on 127.0.0.1 only.
# See docs/benchmarks.md.
#
# usage: bench/lrs/run.sh            (or: make bench-lrs)
# environment:
#   DURATION         load time of each run (default 20s)
#   SERVERS          which servers, in order (default: floor learnstream ls-api ralph)
#   LOADS            which loads (default: single8 single32 batch100)
#   LEARNSTREAM_BIN  a prebuilt learnstream binary (default: build ./cmd/learnstream)
#   KEEP=1           keep the run directories under .cache/bench-lrs/runs
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/lrs
CACHE=$ROOT/.cache/bench-lrs # git-ignored
VENV=$CACHE/venv
RALPH_VERSION=5.1.0
DURATION=${DURATION:-20s}
SERVERS=${SERVERS:-floor learnstream ls-api ralph}
LOADS=${LOADS:-single8 single32 batch100}
KEY=bench
SECRET=bench-secret-$$
mkdir -p "$CACHE"
RUNS=$CACHE/runs
rm -rf "$RUNS"
mkdir -p "$RUNS"
RESULTS=$CACHE/results.jsonl
: >"$RESULTS"

log() { echo "== $*" >&2; }

log "machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Binaries: learnstream (server and load tool) and the floor.
BIN=${LEARNSTREAM_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$CACHE/learnstream
	(cd "$ROOT" && go build -o "$BIN" ./cmd/learnstream)
fi
FLOOR=$CACHE/floor
(cd "$ROOT" && go build -o "$FLOOR" ./bench/lrs/floor)

# 2. Ralph into a venv, patched.
install_ralph() {
	if [ ! -x "$VENV/bin/python" ]; then
		python3 -m venv "$VENV"
	fi
	if ! "$VENV/bin/python" -c 'import ralph.backends.lrs.fs, bcrypt, uvicorn, fastapi, requests' 2>/dev/null; then
		log "installing ralph-malph[lrs]==$RALPH_VERSION into $VENV"
		# The LRS extra of 5.1.0 leaves out requests, which ralph.api
		# imports (OIDC auth); it is installed beside it.
		"$VENV/bin/pip" install --quiet "ralph-malph[lrs]==$RALPH_VERSION" requests
	fi
	local site
	site=$("$VENV/bin/python" -c 'import ralph, pathlib; print(pathlib.Path(ralph.__file__).parent.parent)')
	if patch --dry-run -R -p1 -s -f -d "$site" <"$HERE/ralph-fs-append.patch" >/dev/null 2>&1; then
		return # already applied
	fi
	log "patching Ralph's file-system LRS backend (bench/lrs/ralph-fs-append.patch)"
	patch -p1 -s -f -d "$site" <"$HERE/ralph-fs-append.patch"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_up URL PID: until URL answers 2xx, for at most 60 s.
wait_up() {
	local i
	for i in $(seq 1 240); do
		if ! kill -0 "$2" 2>/dev/null; then
			return 1
		fi
		if curl -sf -o /dev/null "$1"; then
			return 0
		fi
		sleep 0.25
	done
	return 1
}

PID=
stop_server() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		for _ in $(seq 1 60); do
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.25
		done
		kill -KILL "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	PID=
}
trap stop_server EXIT

# start_server NAME DIR: starts one fresh server, sets PID and URL (the
# xAPI base) and LOADFLAGS (how the load tool reads its answers).
start_server() {
	local name=$1 dir=$2 port
	port=$(free_port)
	mkdir -p "$dir"
	case $name in
	floor)
		"$FLOOR" --http "127.0.0.1:$port" >"$dir/server.log" 2>&1 &
		PID=$!
		URL=http://127.0.0.1:$port/xapi
		LOADFLAGS=(--no-metrics --verify=false --any-answer)
		wait_up "http://127.0.0.1:$port/" "$PID"
		;;
	learnstream | ls-api)
		local roles=()
		[ "$name" = ls-api ] && roles=(--roles api)
		LEARNSTREAM_ADMIN_KEY=$KEY LEARNSTREAM_ADMIN_SECRET=$SECRET \
			"$BIN" serve --data-dir "$dir/data" --http "127.0.0.1:$port" \
			--broker-listen 127.0.0.1:0 --log-level warn "${roles[@]}" >"$dir/server.log" 2>&1 &
		PID=$!
		URL=http://127.0.0.1:$port/xapi
		LOADFLAGS=(--drain-timeout 120s)
		wait_up "http://127.0.0.1:$port/readyz" "$PID"
		;;
	ralph)
		"$VENV/bin/python" - "$dir/auth.json" "$KEY" "$SECRET" <<-'EOF'
			import bcrypt, json, sys
			path, user, secret = sys.argv[1:]
			json.dump([{"agent": {"mbox": "mailto:bench@example.org", "objectType": "Agent"},
			            "scopes": ["all"], "username": user,
			            "hash": bcrypt.hashpw(secret.encode(), bcrypt.gensalt()).decode()}],
			          open(path, "w"))
		EOF
		mkdir -p "$dir/data"
		RALPH_AUTH_FILE=$dir/auth.json RALPH_HISTORY_FILE=$dir/history.json \
			RALPH_RUNSERVER_BACKEND=fs RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH=$dir/data \
			"$VENV/bin/uvicorn" ralph.api:app --host 127.0.0.1 --port "$port" \
			--log-level warning --no-access-log >"$dir/server.log" 2>&1 &
		PID=$!
		URL=http://127.0.0.1:$port/xAPI
		# Reading back by id scans the whole file per statement; the
		# statements are counted in the file instead (below).
		LOADFLAGS=(--no-metrics --verify=false)
		wait_up "http://127.0.0.1:$port/__lbheartbeat__" "$PID" || return 1
		# One authenticated request first: Ralph checks a credential with
		# bcrypt once and caches it; without this, the first requests of
		# a run each pay for the check (seconds with 32 clients at once).
		curl -sf -o /dev/null -u "$KEY:$SECRET" -H 'X-Experience-API-Version: 1.0.3' "$URL/statements?limit=1"
		;;
	*)
		echo "unknown server $name" >&2
		return 2
		;;
	esac
}

load_flags() {
	case $1 in
	single8) echo "--batch 1 --concurrency 8" ;;
	single32) echo "--batch 1 --concurrency 32" ;;
	batch100) echo "--batch 100 --concurrency 4" ;;
	*)
		echo "unknown load $1" >&2
		return 2
		;;
	esac
}

case " $SERVERS " in *" ralph "*) install_ralph ;; esac

for load in $LOADS; do
	read -r -a lflags <<<"$(load_flags "$load")"
	for server in $SERVERS; do
		dir=$RUNS/$server-$load
		log "$server, $load, $DURATION"
		if ! start_server "$server" "$dir"; then
			echo "$server did not start; its log:" >&2
			tail -20 "$dir/server.log" >&2
			stop_server
			echo "{\"lrs\":\"$server\",\"load\":\"$load\",\"error\":\"did not start\"}" >>"$RESULTS"
			continue
		fi
		# Bounded: the load, at most 120 s of drain, the read-back.
		rc=0
		timeout 900 "$BIN" bench ingest --url "$URL" --key "$KEY" --secret "$SECRET" \
			--duration "$DURATION" --progress 5s --json "${lflags[@]}" "${LOADFLAGS[@]}" \
			>"$dir/report.json" 2>"$dir/progress.log" || rc=$?
		stored=
		if [ "$server" = ralph ]; then
			stored=$(cat "$dir"/data/*.jsonl 2>/dev/null | wc -l)
		fi
		stop_server
		du_kb=$(du -sk "$dir" | cut -f1)
		python3 - "$server" "$load" "$rc" "$dir/report.json" "$du_kb" "$stored" >>"$RESULTS" <<-'EOF'
			import json, sys
			server, load, rc, path, du_kb, stored = sys.argv[1:]
			try:
			    rep = json.load(open(path))
			except Exception as e:
			    rep = {"error": "no report (%s)" % e}
			rep.update(lrs=server, load=load, exit=int(rc), disk_kb=int(du_kb))
			if stored:
			    rep["stored"] = int(stored)
			print(json.dumps(rep))
		EOF
		tail -1 "$dir/progress.log" >&2 || true
	done
done

python3 "$HERE/table.py" "$RESULTS"
if [ -z "${KEEP:-}" ]; then
	rm -rf "$RUNS"
fi
