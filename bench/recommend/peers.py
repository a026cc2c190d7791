#!/usr/bin/env python3
"""Peer recommenders on learnstream's prequential protocol.

Reads the event stream written by `learnstream eval recommend --export`
(CSV learner,item,timestamp,weight, already in evaluation order) and replays
it exactly as learnstream's harness does: for each event, rank the top N items
for the learner leaving out the items the learner already interacted with,
record recall@N and NDCG@N for the true item (repeats are learned but not
scored; an item never seen before is a miss), then learn the event.
Popularity is counts, ties by who reached the count first, as in
learnstream.

Models:
  popularity    the same baseline as learnstream's (a cross-check)
  river-funk    river.reco.FunkMF (online MF by SGD), learn_one per event with
                target 1, plus --neg sampled negatives with target 0
  river-biased  river.reco.BiasedMF, same protocol
  als           implicit.als.AlternatingLeastSquares (batch), retrained on
                the whole prefix every --retrain events; between retrains
                the learner's vector is folded in from their history with
                the current item factors (the least-squares solve implicit
                uses for recalculate_user); items newer than the last
                retrain cannot be ranked

Learners without history are ranked by popularity, except by river-biased,
which uses its item biases (as learnstream uses its own).

Negatives are sampled like learnstream's: uniformly among the items seen so
far (--neg-sampling uniform, learnstream's default) or uniformly from the
items of the last 65,536 events (popularity), skipping the true item and the
learner's items, at most 4 tries each.

events_per_second counts ranking and learning; update_events_per_second
learning only (for ALS: appending the event and the periodic refits).

Besides the totals, every model reports the splits of learnstream's
mf.EvalResult with the same keys: by_history (scored events by the learner's
prior events in the stream, repeats included: 0, 1, 2-5, 6-20, 21-100, >100),
new_items (items with fewer than 50 prior interactions) and curve (recall and
NDCG per window: equal widths in time when the stream has times, else equal
event counts), each with the popularity baseline of the same replay.

Prints one JSON object per model.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: one core per model

import argparse
import csv
import json
import math
import random
import sys
import time

import numpy as np


def load(path):
    users, items, uid, iid, ts, w = {}, {}, [], [], [], []
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        if header[:2] != ["learner", "item"]:
            sys.exit(f"{path}: want the CSV written by learnstream eval recommend --export")
        for row in r:
            uid.append(users.setdefault(row[0], len(users)))
            iid.append(items.setdefault(row[1], len(items)))
            ts.append(float(row[2]))
            w.append(float(row[3]))
    return (np.array(uid, dtype=np.int64), np.array(iid, dtype=np.int64), np.array(ts, dtype=np.float64),
            np.array(w), len(users), len(items))


class Popularity:
    """Counts; ranking by count desc, ties by the time the item reached its
    count (earlier first), as learnstream's.

    The ranking is kept in order incrementally: order holds the items by
    (count desc, reached asc) and head[c] is the number of items with a
    count above c, the start of the group with count c. An item going from
    c to c+1 reached c+1 last, so it moves to the end of group c+1, which is
    the start of group c: the items of group c before it shift by one, and
    head[c] grows by one. Items not seen yet (count 0) are in no order."""

    def __init__(self, n_items):
        self.count = np.zeros(n_items, dtype=np.int64)
        self.order = np.arange(n_items)
        self.pos = np.arange(n_items)
        self.head = {0: 0}

    def add(self, i):
        c = int(self.count[i])
        h = self.head[c]
        p = int(self.pos[i])
        if c == 0:
            j = self.order[h]
            self.order[h], self.order[p] = i, j
            self.pos[j], self.pos[i] = p, h
        elif p > h:
            seg = self.order[h:p].copy()
            self.order[h + 1:p + 1] = seg
            self.pos[seg] += 1
            self.order[h] = i
            self.pos[i] = h
        self.head.setdefault(c + 1, h)
        self.head[c] = h + 1
        self.count[i] = c + 1

    def top(self, n, exclude):
        cand = self.order[:min(self.head[0], n + len(exclude))]
        if exclude:
            cand = cand[~np.isin(cand, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))]
        return cand[:n]


# The splits of learnstream's mf.EvalResult (domain/mf/eval.go), same keys.
HISTORY_BUCKETS = ["0", "1", "2-5", "6-20", "21-100", ">100"]
NEW_ITEM_INTERACTIONS = 50


def history_bucket(prior):
    if prior <= 0:
        return 0
    if prior == 1:
        return 1
    if prior <= 5:
        return 2
    if prior <= 20:
        return 3
    if prior <= 100:
        return 4
    return 5


class Windows:
    """mf.Windower: equal widths in time when the first and last events have
    different times, else equal event counts; the same float operations as
    the Go code, so the windows line up."""

    def __init__(self, ts, windows):
        n = len(ts)
        self.n, self.w = n, windows
        self.t0, self.t1 = (float(ts[0]), float(ts[-1])) if n else (0.0, 0.0)
        self.by_time = self.t1 > self.t0
        if not self.by_time and n < windows:
            self.w = max(n, 1)
        if self.by_time:
            k = ((ts - self.t0) / (self.t1 - self.t0) * float(self.w)).astype(np.int64)
        else:
            k = np.arange(n, dtype=np.int64) * self.w // max(n, 1)
        self.of = np.clip(k, 0, self.w - 1)

    def bounds(self, k):
        if self.by_time:
            return (self.t0 + (self.t1 - self.t0) * float(k) / float(self.w),
                    self.t0 + (self.t1 - self.t0) * float(k + 1) / float(self.w))
        return float(k * self.n // self.w), float((k + 1) * self.n // self.w)


class Split:
    __slots__ = ("scored", "mh", "mg", "bh", "bg")

    def __init__(self):
        self.scored = self.mh = self.bh = 0
        self.mg = self.bg = 0.0

    def add(self, mr, br):
        self.scored += 1
        if mr >= 0:
            self.mh += 1
            self.mg += 1.0 / math.log2(mr + 2)
        if br >= 0:
            self.bh += 1
            self.bg += 1.0 / math.log2(br + 2)

    def json(self):
        def m(h, g):
            d = self.scored or 1
            return {"hits": h, "recall_at_n": h / d if self.scored else 0, "ndcg_at_n": g / d if self.scored else 0}
        return {"scored": self.scored, "model": m(self.mh, self.mg), "baseline": m(self.bh, self.bg)}


def rank_of(top, i):
    where = np.flatnonzero(top == i)
    return int(where[0]) if len(where) else -1


def top_from_scores(scores, n, exclude, valid=None):
    """Top n of scores (a fresh array over items 0..len-1, modified here),
    leaving out exclude and, when given, items not valid. Items are numbered
    in order of first appearance, so the items known so far are a prefix and
    the callers score only that prefix."""
    s = scores if valid is None else np.where(valid[:len(scores)], scores, -np.inf)
    if exclude:
        ex = np.fromiter(exclude, dtype=np.int64, count=len(exclude))
        s[ex[ex < len(s)]] = -np.inf
    k = min(n, int(np.isfinite(s).sum()))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    idx = np.argpartition(-s, k - 1)[:k]
    return idx[np.lexsort((idx, -s[idx]))]


class NegSampler:
    """uniform: among the items seen so far; popularity: from the last
    65,536 events' items."""

    def __init__(self, seed, uniform, window=1 << 16):
        self.rng = random.Random(seed)
        self.uniform = uniform
        self.ring = []
        self.items = []
        self.known = set()
        self.pos = 0
        self.window = window

    def push(self, i):
        if i not in self.known:
            self.known.add(i)
            self.items.append(i)
        if len(self.ring) < self.window:
            self.ring.append(i)
        else:
            self.ring[self.pos] = i
            self.pos = (self.pos + 1) % self.window

    def sample(self, true_item, seen):
        pool = self.items if self.uniform else self.ring
        if not pool:
            return None
        for _ in range(4):
            j = pool[self.rng.randrange(len(pool))]
            if j != true_item and j not in seen:
                return j
        return None


class RiverModel:
    def __init__(self, kind, n_items, k, lr, l2, neg, uniform, seed):
        from river import optim, reco
        init = optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed)
        if kind == "funk":
            self.m = reco.FunkMF(n_factors=k, optimizer=optim.SGD(lr), l2=l2, initializer=init, seed=seed)
        else:
            self.m = reco.BiasedMF(n_factors=k, bias_optimizer=optim.SGD(lr), latent_optimizer=optim.SGD(lr),
                                   l2_bias=l2, l2_latent=l2, latent_initializer=init, seed=seed)
        self.kind = kind
        self.neg = neg
        self.Q = np.zeros((n_items, k))
        self.b = np.zeros(n_items)
        self.known = 0  # items 0..known-1 have been learned (a prefix: see top_from_scores)
        self.sampler = NegSampler(seed, uniform)

    def _sync(self, i):
        self.Q[i] = self.m.i_latents[i]
        if self.kind == "biased":
            self.b[i] = self.m.i_biases[i]
        self.known = max(self.known, i + 1)

    def rank(self, u, n, exclude):
        p = self.m.u_latents[u]
        m = self.known
        return top_from_scores(self.Q[:m] @ p + self.b[:m], n, exclude)

    def rank_cold(self, n, exclude):
        # BiasedMF ranks a learner without history by its item biases, as
        # learnstream does; FunkMF has none (popularity fallback).
        if self.kind != "biased" or self.known == 0:
            return None
        return top_from_scores(self.b[:self.known].copy(), n, exclude)

    def learn(self, u, i, w, seen):
        self.m.learn_one(u, i, 1.0)
        self._sync(i)
        for _ in range(self.neg):
            j = self.sampler.sample(i, seen)
            if j is not None:
                self.m.learn_one(u, j, 0.0)
                self._sync(j)
        self.sampler.push(i)


class ALSModel:
    def __init__(self, n_users, n_items, k, reg, alpha, iters, retrain, seed):
        from implicit.als import AlternatingLeastSquares
        self.make = lambda: AlternatingLeastSquares(factors=k, regularization=reg, alpha=alpha, iterations=iters,
                                                    random_state=seed, num_threads=1, calculate_training_loss=False)
        self.k, self.reg, self.alpha = k, reg, alpha
        self.retrain = retrain
        self.rows, self.cols, self.vals = [], [], []
        self.n_users, self.n_items = n_users, n_items
        self.Y = None
        self.valid = np.zeros(n_items, dtype=bool)
        self.hist = {}  # user -> {item: summed weight}
        self.since = 0
        self.fits = 0

    def _fit(self):
        import scipy.sparse as sp
        m = sp.csr_matrix((self.vals, (self.rows, self.cols)), shape=(self.n_users, self.n_items))
        m.sum_duplicates()
        model = self.make()
        model.fit(m, show_progress=False)
        Y = model.item_factors
        if not isinstance(Y, np.ndarray):
            Y = Y.to_numpy()
        self.Y = np.asarray(Y, dtype=np.float64)
        self.kk = self.Y.shape[1]  # implicit may pad the factors
        self.YtY = self.Y.T @ self.Y
        self.valid = np.zeros(self.n_items, dtype=bool)
        self.valid[np.unique(self.cols)] = True
        self.known = int(np.flatnonzero(self.valid)[-1]) + 1
        self.fits += 1

    def rank(self, u, n, exclude):
        if self.Y is None:
            return None
        h = self.hist.get(u)
        items = np.fromiter(h.keys(), dtype=np.int64)
        c = self.alpha * np.fromiter(h.values(), dtype=np.float64)
        ok = self.valid[items]
        items, c = items[ok], c[ok]
        if len(items) == 0:
            return None
        Yh = self.Y[items]
        # implicit's least-squares user solve: (YtY + Yt(Cu - I)Y + reg I) x = Yt Cu 1
        A = self.YtY + (Yh.T * (c - 1.0)) @ Yh + self.reg * np.eye(self.kk)
        b = Yh.T @ c
        x = np.linalg.solve(A, b)
        return top_from_scores(self.Y[:self.known] @ x, n, exclude, self.valid)

    def learn(self, u, i, w, seen):
        self.rows.append(u)
        self.cols.append(i)
        self.vals.append(w)
        h = self.hist.setdefault(u, {})
        h[i] = h.get(i, 0.0) + w
        self.since += 1
        if self.since >= self.retrain:
            self.since = 0
            self._fit()


def replay(name, model, uid, iid, w, n_users, n_items, n, win):
    pop = Popularity(n_items)
    seen = [set() for _ in range(n_users)]
    known_items = np.zeros(n_items, dtype=bool)
    prior = np.zeros(n_users, dtype=np.int64)  # events so far, repeats included
    item_events = np.zeros(n_items, dtype=np.int64)
    total = Split()
    by_history = [Split() for _ in HISTORY_BUCKETS]
    new_items = Split()
    curve = [Split() for _ in range(win.w)]
    curve_events = np.bincount(win.of, minlength=win.w)
    spent = learn = 0.0
    for t in range(len(uid)):
        u, i = int(uid[t]), int(iid[t])
        s = seen[u]
        t0 = time.perf_counter()
        scored = i not in s
        mr = br = -1
        if scored:
            top = None
            if s and model is not None:
                top = model.rank(u, n, s)
            elif model is not None and hasattr(model, "rank_cold"):
                top = model.rank_cold(n, s)
            if top is None:
                top = pop.top(n, s)
            if known_items[i]:
                mr = rank_of(top, i)
        if model is not None:
            t1 = time.perf_counter()
            model.learn(u, i, float(w[t]), s)
            learn += time.perf_counter() - t1
        spent += time.perf_counter() - t0
        if scored:
            # The popularity baseline of the splits, outside the timed part.
            if known_items[i]:
                br = mr if model is None else rank_of(pop.top(n, s), i)
            total.add(mr, br)
            by_history[history_bucket(int(prior[u]))].add(mr, br)
            if item_events[i] < NEW_ITEM_INTERACTIONS:
                new_items.add(mr, br)
            curve[int(win.of[t])].add(mr, br)
        prior[u] += 1
        item_events[i] += 1
        pop.add(i)
        known_items[i] = True
        s.add(i)
    points = []
    for k, sp in enumerate(curve):
        start, end = win.bounds(k)
        points.append({"start": start, "end": end, "events": int(curve_events[k]), **sp.json()})
    tot = total.json()["model"]
    return {"model": name, "recall_at_%d" % n: tot["recall_at_n"], "ndcg_at_%d" % n: tot["ndcg_at_n"],
            "events": len(uid), "scored": total.scored, "seconds": round(spent, 3),
            "events_per_second": round(len(uid) / spent) if spent > 0 else None,
            "update_events_per_second": round(len(uid) / learn) if learn > 0 else None,
            "by_history": {b: sp.json() for b, sp in zip(HISTORY_BUCKETS, by_history)},
            "new_items": new_items.json(),
            "curve": {"by": "time" if win.by_time else "events", "points": points}}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", required=True, help="CSV from learnstream eval recommend --export")
    ap.add_argument("--models", default="popularity,river-funk,river-biased,als")
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--k", type=int, default=32)
    ap.add_argument("--neg", type=int, default=2, help="sampled negatives per event for river")
    ap.add_argument("--neg-sampling", choices=["uniform", "popularity"], default="uniform")
    # defaults: the best of a small grid on MOOCCube (see docs/recommendations.md)
    ap.add_argument("--river-funk-lr", type=float, default=0.1)
    ap.add_argument("--river-biased-lr", type=float, default=0.01)
    ap.add_argument("--river-l2", type=float, default=0.01)
    ap.add_argument("--als-reg", type=float, default=1.0)
    ap.add_argument("--als-alpha", type=float, default=40.0)
    ap.add_argument("--als-iters", type=int, default=15)
    ap.add_argument("--retrain", type=int, default=0, help="ALS retrain interval in events (0: max(1000, events/50))")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--windows", type=int, default=50, help="windows of the prequential curve (as learnstream's --windows)")
    a = ap.parse_args()
    uid, iid, ts, w, n_users, n_items = load(a.events)
    win = Windows(ts, a.windows)
    retrain = a.retrain or max(1000, len(uid) // 50)
    for name in a.models.split(","):
        name = name.strip()
        if name == "popularity":
            model = None
        elif name == "river-funk":
            model = RiverModel("funk", n_items, a.k, a.river_funk_lr, a.river_l2, a.neg, a.neg_sampling == "uniform", a.seed)
        elif name == "river-biased":
            model = RiverModel("biased", n_items, a.k, a.river_biased_lr, a.river_l2, a.neg, a.neg_sampling == "uniform", a.seed)
        elif name == "als":
            model = ALSModel(n_users, n_items, a.k, a.als_reg, a.als_alpha, a.als_iters, retrain, a.seed)
        else:
            sys.exit(f"unknown model {name}")
        res = replay(name, model, uid, iid, w, n_users, n_items, a.n, win)
        if name == "als":
            res["retrain_every"] = retrain
            res["fits"] = model.fits
        if name.startswith("river"):
            res["lr"] = a.river_funk_lr if name == "river-funk" else a.river_biased_lr
            res["negatives"] = a.neg
            res["neg_sampling"] = a.neg_sampling
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
