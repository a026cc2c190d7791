#!/usr/bin/env bash
# Side-by-side recommender benchmark: learnstream's online MF (and its ISGD
# baseline) against popularity, river's online MF (FunkMF, BiasedMF) and
# implicit's batch ALS, on the same event streams with the same prequential
# protocol, in one run. Then the Go micro-benchmarks (per-event update, top-N,
# memory). See docs/recommendations.md.
#
# usage: bench/recommend/run.sh [dataset...]
#   datasets: mooccube oulad-assessments oulad-registrations (default: all)
# environment:
#   DATA             data directory (default: ../shared/data next to the checkout)
#   LEARNSTREAM_BIN  a prebuilt learnstream binary (default: build ./cmd/learnstream)
#   MODELS           peer models (default: popularity,river-funk,river-biased,als)
#   SKIP_GO_BENCH=1  skip the Go benchmarks
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/recommend
DATA=${DATA:-$ROOT/../shared/data}
CACHE=$ROOT/.cache/bench-recommend   # git-ignored
VENV=$CACHE/venv
MODELS=${MODELS:-popularity,river-funk,river-biased,als}
mkdir -p "$CACHE"

echo "== machine: $(nproc) cores, $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. Python peers in a venv (PyPI: river, implicit).
if [ ! -x "$VENV/bin/python" ]; then
	python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import river, implicit, numpy, scipy' 2>/dev/null; then
	echo "== installing river, implicit, numpy, scipy into $VENV"
	"$VENV/bin/pip" install --quiet river implicit numpy scipy || true
fi
if ! "$VENV/bin/python" -c 'import river' 2>/dev/null; then
	echo "river could not be installed: river models skipped" >&2
	MODELS=$(echo "$MODELS" | tr , '\n' | grep -v '^river' | paste -sd, -)
fi
if ! "$VENV/bin/python" -c 'import implicit' 2>/dev/null; then
	echo "implicit could not be installed (no wheel and no compiler?): ALS skipped" >&2
	MODELS=$(echo "$MODELS" | tr , '\n' | grep -v '^als$' | paste -sd, -)
fi
"$VENV/bin/python" -c 'import river, implicit; print("== peers: river", river.__version__, "implicit", implicit.__version__)' 2>/dev/null || true

# 2. learnstream.
BIN=${LEARNSTREAM_BIN:-}
if [ -z "$BIN" ]; then
	BIN=$CACHE/learnstream
	if ! (cd "$ROOT" && go build -o "$BIN" ./cmd/learnstream); then
		echo "building ./cmd/learnstream failed; set LEARNSTREAM_BIN to a built binary" >&2
		exit 1
	fi
fi

datasets=("$@")
if [ ${#datasets[@]} -eq 0 ]; then
	datasets=(mooccube oulad-assessments oulad-registrations)
fi

for ds in "${datasets[@]}"; do
	case $ds in
	mooccube) src=(--data "$DATA/mooccube_kgan_course/ratings_final.txt.gz") ;;
	oulad-assessments) src=(--data "$DATA/oulad" --oulad assessments) ;;
	oulad-registrations) src=(--data "$DATA/oulad" --oulad registrations) ;;
	*) echo "unknown dataset $ds" >&2; exit 2 ;;
	esac
	stream=$CACHE/$ds.csv
	results=$CACHE/$ds.results.jsonl
	: >"$results"
	echo
	echo "== $ds"
	"$BIN" eval recommend "${src[@]}" --export "$stream"
	# learnstream: the default online MF, then the ISGD baseline of the issue.
	"$BIN" eval recommend --data "$stream" --json-detail |
		"$VENV/bin/python" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"model":"learnstream-als","recall_at_10":d["recall"],"ndcg_at_10":d["ndcg"],"events":d["events"],"events_per_second":d["events_per_second"],"update_events_per_second":d["update_events_per_second"]}))' >>"$results"
	"$BIN" eval recommend --data "$stream" --algo isgd --neg 0 --json-detail |
		"$VENV/bin/python" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps({"model":"learnstream-isgd","recall_at_10":d["recall"],"ndcg_at_10":d["ndcg"],"events":d["events"],"events_per_second":d["events_per_second"],"update_events_per_second":d["update_events_per_second"]}))' >>"$results"
	"$VENV/bin/python" "$HERE/peers.py" --events "$stream" --models "$MODELS" >>"$results"
	"$VENV/bin/python" "$HERE/table.py" "$results"
done

if [ -z "${SKIP_GO_BENCH:-}" ]; then
	echo
	echo "== Go benchmarks (domain/mf, k=32)"
	(cd "$ROOT" && go test -run '^$' -bench 'Update|TopN' -benchtime 100000x ./domain/mf &&
		go test -run '^$' -bench 'Memory' -benchtime 1x ./domain/mf) | grep -E '^(Benchmark|ok)'
fi
