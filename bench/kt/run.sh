#!/usr/bin/env bash
# Side-by-side knowledge-tracing benchmark: pyBKT (from PyPI, C++ core built
# from source) against `learnstream eval kt` and `learnstream fit bkt`, on
# the same ASSISTments 2009 train/test split (Gervet et al. 2020).
#
#   bash bench/kt/run.sh            # from the repository root
#   KT_DATA=dir bash bench/kt/run.sh
#   KT_LEARNSTREAM_BIN=path/to/learnstream bash bench/kt/run.sh
#
# The virtualenv lives in .cache/bench-kt/ (git-ignored) and is reused.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
data="${KT_DATA:-$root/../shared/data/assist2009_gervet}"
train="$data/preprocessed_data_train.csv.gz"
test="$data/preprocessed_data_test.csv.gz"
cache="$root/.cache/bench-kt"
venv="$cache/venv"
py="${PYTHON:-python3}"

for f in "$train" "$test"; do
  [[ -r "$f" ]] || { echo "bench/kt: missing data file $f (set KT_DATA)" >&2; exit 1; }
done
mkdir -p "$cache"

# pyBKT 1.4.3 predates numpy 2 and the newest scikit-learn (its metrics
# module breaks on import with scikit-learn >= 1.5), hence the pins. It is
# built from source without build isolation so that its C++ core (E_step,
# predict_onestep_states with OpenMP) is compiled against the pinned numpy;
# otherwise pip may silently fall back to the pure-Python version.
if ! "$venv/bin/python" -c 'import pyBKT.fit.E_step' 2>/dev/null; then
  echo "bench/kt: creating $venv" >&2
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip setuptools wheel
  "$venv/bin/pip" install -q "numpy==1.26.4" "pandas==2.1.4" "scikit-learn==1.3.2"
  "$venv/bin/pip" install -q --no-binary pyBKT --no-build-isolation --no-cache-dir "pyBKT==1.4.3"
  "$venv/bin/python" -c 'import pyBKT.fit.E_step' || {
    echo "bench/kt: pyBKT's C++ core did not build (need g++ and the Python headers)" >&2; exit 1; }
fi

# KT_LEARNSTREAM_BIN runs an already built binary instead of building one.
bin="${KT_LEARNSTREAM_BIN:-}"
if [[ -z "$bin" ]]; then
  bin="$cache/learnstream"
  (cd "$root" && go build -o "$bin" ./cmd/learnstream)
fi

echo "bench/kt: pyBKT fit + predict" >&2
pybkt_json="$("$venv/bin/python" "$root/bench/kt/pybkt_bench.py" --train "$train" --test "$test")"

echo "bench/kt: learnstream fit bkt" >&2
fit_json="$("$bin" fit bkt --data "$train" --json 2>/dev/null)"

echo "bench/kt: learnstream eval kt" >&2
t0=$(date +%s.%N)
eval_json="$("$bin" eval kt --train "$train" --data "$test" --json 2>/dev/null)"
t1=$(date +%s.%N)
frozen_json="$("$bin" eval kt --train "$train" --data "$test" --freeze-shared --json 2>/dev/null)"

"$venv/bin/python" - "$pybkt_json" "$fit_json" "$eval_json" "$frozen_json" "$t0" "$t1" <<'PY'
import json, sys
pybkt, fit, ev, frozen = (json.loads(a) for a in sys.argv[1:5])
eval_s = float(sys.argv[6]) - float(sys.argv[5])
rows = [
    ("pyBKT 1.4.3 (C++ core, num_fits=5)", pybkt["auc"], pybkt["rmse"], f'{pybkt["fit_seconds"]:.2f} s', f'{pybkt["predict_seconds"]:.2f} s'),
    ("learnstream BKT (EM, 5 restarts)", ev["baselines"]["bkt"]["auc"], ev["baselines"]["bkt"]["rmse"], f'{fit["fit_seconds"]:.2f} s', "in eval"),
    ("learnstream Elo", ev["baselines"]["elo"]["auc"], ev["baselines"]["elo"]["rmse"], "online", "in eval"),
    ("learnstream combined", ev["auc"], ev["rmse"], "online", "in eval"),
    ("learnstream combined, --freeze-shared", frozen["auc"], frozen["rmse"], "online", "in eval"),
]
print(f'{"model":<40} {"AUC":>7} {"RMSE":>7} {"fit":>9} {"predict":>9}')
for name, auc, rmse, fit_t, pred_t in rows:
    print(f"{name:<40} {auc:7.4f} {rmse:7.4f} {fit_t:>9} {pred_t:>9}")
print()
print(f'BKT fit speed-up over pyBKT: {pybkt["fit_seconds"] / fit["fit_seconds"]:.1f}x '
      f'({len(fit["skills"])} skills, {fit["observations"]} training attempts)')
print(f'learnstream eval kt (read, BKT fit, replay of {ev["events"]} test + warm-up events): '
      f'{eval_s:.2f} s wall, replay {ev["events_per_second"]:,.0f} events/s')
PY
