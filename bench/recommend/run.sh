#!/usr/bin/env bash
# Side-by-side recommender benchmark: learnstream's online MF (and its ISGD
# baseline) against popularity, river's online MF (FunkMF, BiasedMF) and
# implicit's batch ALS, on the same event streams with the same prequential
# protocol, in one run. Then the Go micro-benchmarks (per-event update, top-N,
# memory). See docs/recommendations.md.
#
# usage: bench/recommend/run.sh [dataset...]
#   datasets (default: all):
#     mooccube             MOOCCube learner -> course enrolments (file order)
#     oulad-assessments    OULAD learner -> assessment, by day, all presentations
#                          (2013B, 2013J, 2014B, 2014J) in time order: the drift stream
#     oulad-registrations  OULAD learner -> course presentation, by day
#     assist-problems      ASSISTments 2009 learner -> problem (row order, long histories)
#     assist-skills        ASSISTments 2009 learner -> skill (row order, long histories)
# Every model reports the totals, the splits by the learner's prior events
# (by_history), new items and a prequential curve; the curves of each stream
# are drawn by `learnstream eval plot` into $OUT/<dataset>.curve.svg (recall)
# and <dataset>.ndcg.svg, and the Markdown tables of the docs are written to
# $OUT/<dataset>.md.
# environment:
#   DATA             data directory (default: ../shared/data next to the checkout)
#   LEARNSTREAM_BIN  a prebuilt learnstream binary (default: build ./cmd/learnstream)
#   MODELS           peer models (default: popularity,river-funk,river-biased,als)
#   OUT              where the streams, results (<dataset>.results.jsonl) and
#                    curve plots (<dataset>.curve.svg) go (default: the cache
#                    directory; give each concurrent run its own)
#   PEERS_REUSE=DIR  take the peers' lines from an earlier run's OUT=DIR when
#                    that run replayed a byte-identical stream with the same
#                    peers.py and MODELS (the peers do not depend on
#                    learnstream's code; their lines say when they ran)
#   SKIP_GO_BENCH=1  skip the Go benchmarks
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/bench/recommend
DATA=${DATA:-$ROOT/../shared/data}
CACHE=$ROOT/.cache/bench-recommend   # git-ignored
VENV=$CACHE/venv
MODELS=${MODELS:-popularity,river-funk,river-biased,als}
OUT=${OUT:-$CACHE}
mkdir -p "$CACHE" "$OUT"

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

# ours NAME: one results line from `eval recommend --json-detail`, with the
# keys of peers.py.
ours() {
	"$VENV/bin/python" -c '
import json, sys
d = json.load(sys.stdin)
keep = ("events", "scored", "events_per_second", "update_events_per_second", "by_history", "new_items", "curve")
out = {"model": sys.argv[1], "recall_at_10": d["recall"], "ndcg_at_10": d["ndcg"]}
out.update({k: d[k] for k in keep})
print(json.dumps(out))' "$1"
}

# plot_marks DATASET: vertical marks on the curve plot. OULAD times are days
# since 2013-01-01; a presentation starts in February (B) or October (J).
plot_marks() {
	case $1 in
	oulad-*) echo "--marks 31:2013B,273:2013J,396:2014B,638:2014J --x-label day" ;;
	*) echo "--x-label event" ;;
	esac
}

# table_marks DATASET: recall before and after each new presentation.
table_marks() {
	case $1 in
	oulad-*) echo "--marks 273:2013J,396:2014B,638:2014J" ;;
	esac
}

datasets=("$@")
if [ ${#datasets[@]} -eq 0 ]; then
	datasets=(mooccube oulad-assessments oulad-registrations assist-problems assist-skills)
fi

for ds in "${datasets[@]}"; do
	case $ds in
	mooccube) src=(--data "$DATA/mooccube_kgan_course/ratings_final.txt.gz") ;;
	oulad-assessments) src=(--data "$DATA/oulad" --oulad assessments) ;;
	oulad-registrations) src=(--data "$DATA/oulad" --oulad registrations) ;;
	assist-problems) src=(--data "$DATA/assist2009_gervet/preprocessed_data_train.csv.gz") ;;
	assist-skills) src=(--data "$DATA/assist2009_gervet/preprocessed_data_train.csv.gz" --item-column skill_id) ;;
	*) echo "unknown dataset $ds" >&2; exit 2 ;;
	esac
	stream=$OUT/$ds.csv
	results=$OUT/$ds.results.jsonl
	echo "# learnstream ran $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)" >"$results"
	echo
	echo "== $ds"
	"$BIN" eval recommend "${src[@]}" --export "$stream"
	# learnstream: the default (MF blended with sequence rules, as deployed), MF
	# alone, then the ISGD baseline of the issue.
	"$BIN" eval recommend --data "$stream" --json-detail | ours learnstream-als >>"$results"
	"$BIN" eval recommend --data "$stream" --blend=false --json-detail | ours learnstream-mf >>"$results"
	"$BIN" eval recommend --data "$stream" --algo isgd --neg 0 --blend=false --json-detail | ours learnstream-isgd >>"$results"
	# The default with item features (the content-based hybrid), where the
	# data has them: the same events, features from the data set.
	case $ds in
	mooccube) feat=(--data "$stream" --item-features "kg:$DATA/mooccube_kgan_course/kg_final.txt.gz") ;;
	oulad-*) feat=(--data "$stream" --item-features "oulad:$DATA/oulad") ;;
	assist-problems) feat=("${src[@]}" --item-features column:skill_id) ;;
	*) feat=() ;;
	esac
	if [ ${#feat[@]} -gt 0 ]; then
		"$BIN" eval recommend "${feat[@]}" --json-detail | ours learnstream-content >>"$results"
	fi
	# The peers, or their lines from an earlier run of the same stream.
	key=$( (sha256sum <"$stream" && sha256sum <"$HERE/peers.py" && echo "$MODELS") | sha256sum | cut -c1-16)
	peers=$OUT/$ds.peers.jsonl
	if [ -n "${PEERS_REUSE:-}" ] && [ -f "$PEERS_REUSE/$ds.peers.jsonl" ] &&
		head -1 "$PEERS_REUSE/$ds.peers.jsonl" | grep -q "key $key,"; then
		[ "$PEERS_REUSE/$ds.peers.jsonl" -ef "$peers" ] || cp "$PEERS_REUSE/$ds.peers.jsonl" "$peers"
		echo "peers reused: $(head -1 "$peers")"
	else
		{
			echo "# peers key $key, ran $(date -u +%Y-%m-%dT%H:%MZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
			"$VENV/bin/python" "$HERE/peers.py" --events "$stream" --models "$MODELS"
		} >"$peers.tmp"
		mv "$peers.tmp" "$peers"
	fi
	cat "$peers" >>"$results"
	"$VENV/bin/python" "$HERE/table.py" "$results" $(table_marks "$ds")
	"$VENV/bin/python" "$HERE/table.py" "$results" --markdown $(table_marks "$ds") >"$OUT/$ds.md"
	"$BIN" eval plot --results "$results" --out "$OUT/$ds.curve.svg" --title "$ds: prequential recall@10 per window" $(plot_marks "$ds")
	"$BIN" eval plot --results "$results" --out "$OUT/$ds.ndcg.svg" --metric ndcg --title "$ds: prequential NDCG@10 per window" $(plot_marks "$ds")
	echo "tables: $OUT/$ds.md; curves: $OUT/$ds.curve.svg, $OUT/$ds.ndcg.svg"
done

if [ -z "${SKIP_GO_BENCH:-}" ]; then
	echo
	echo "== Go benchmarks (domain/mf, k=32)"
	# Rankings over 100,000 items cost a millisecond each: fewer of them.
	(cd "$ROOT" && go test -run '^$' -bench 'Update' -benchtime 100000x ./domain/mf &&
		go test -run '^$' -bench 'TopN' -benchtime 5000x ./domain/mf &&
		go test -run '^$' -bench 'Memory' -benchtime 1x ./domain/mf) | grep -E '^(Benchmark|ok)'
fi
