"""Fit and evaluate pyBKT on a train/test split, printing one JSON object.

Used by bench/kt/run.sh; the protocol mirrors `learnstream eval kt`:
pyBKT fits per-skill BKT parameters on the training rows (EM, num_fits
random restarts), then predicts every test row from the rows of the same
learner and skill before it. AUC and RMSE are pooled over all test rows.
"""
import argparse
import json
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from pyBKT.fit import E_step  # noqa: F401  (fails if the C++ core was not built)
from pyBKT.models import Model


def load(path):
    df = pd.read_csv(path, sep=None, engine="python")
    df = df.rename(columns={"skill_id": "skill_name"})
    df["skill_name"] = df["skill_name"].astype(str)
    # No timestamps in this data: row order is time order (per learner).
    df["order_id"] = np.arange(len(df))
    return df


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--num-fits", type=int, default=5)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()

    train, test = load(args.train), load(args.test)
    model = Model(seed=args.seed, num_fits=args.num_fits, parallel=True)
    t0 = time.perf_counter()
    model.fit(data=train)
    fit_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    pred = model.predict(data=test)
    predict_s = time.perf_counter() - t0

    y = pred["correct"].to_numpy()
    p = pred["correct_predictions"].to_numpy()
    print(json.dumps({
        "auc": roc_auc_score(y, p),
        "rmse": float(np.sqrt(np.mean((p - y) ** 2))),
        "accuracy": float(np.mean((p >= 0.5) == (y >= 0.5))),
        "fit_seconds": fit_s,
        "predict_seconds": predict_s,
        "num_fits": args.num_fits,
        "skills": int(train["skill_name"].nunique()),
        "train_rows": len(train),
        "test_rows": len(test),
    }))


if __name__ == "__main__":
    main()
