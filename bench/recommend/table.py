#!/usr/bin/env python3
"""Print the JSON lines of one bench/recommend run as tables: the totals
with the ratios the goals are stated in (recall vs popularity, river and
ALS; update rate vs river), then recall@10 and NDCG@10 by the learner's
number of prior events (by_history) and on new items (fewer than 50 prior
interactions), for every model of the run.

usage: table.py RESULTS.jsonl"""
import json
import sys

BUCKETS = ["0", "1", "2-5", "6-20", "21-100", ">100"]
# 21 or more prior events: the long histories of the goal.
LONG = ["21-100", ">100"]
PEERS = ("river-funk", "river-biased", "als")


def long_split(r, metric):
    """Model metric over the scored events with more than 20 prior events."""
    h = r.get("by_history") or {}
    scored = sum(h[b]["scored"] for b in LONG if b in h)
    if not scored:
        return None, 0
    if metric == "recall_at_n":
        return sum(h[b]["model"]["hits"] for b in LONG) / scored, scored
    return sum(h[b]["model"]["ndcg_at_n"] * h[b]["scored"] for b in LONG) / scored, scored


def fmt(v, width, digits=4):
    return f"{'-' if v is None else f'{v:.{digits}f}':>{width}}"


def totals(rows, by):
    print(f"{'model':<18}{'recall@10':>10}{'NDCG@10':>10}{'rank+learn ev/s':>17}{'learn ev/s':>12}")
    for r in rows:
        eps = r.get("events_per_second")
        ups = r.get("update_events_per_second")
        print(f"{r['model']:<18}{r['recall_at_10']:>10.4f}{r['ndcg_at_10']:>10.4f}"
              f"{eps if eps is not None else '-':>17}{ups if ups is not None else '-':>12}")
    ours = by.get("learnstream-als")
    if not ours:
        return
    notes = []
    if "popularity" in by:
        notes.append(f"recall / popularity = {ours['recall_at_10'] / by['popularity']['recall_at_10']:.2f}")
    for peer in ("river-funk", "river-biased"):
        if peer in by:
            notes.append(f"recall / {peer} = {ours['recall_at_10'] / by[peer]['recall_at_10']:.2f}")
            if by[peer].get("update_events_per_second"):
                notes.append(f"learn rate / {peer} = {ours['update_events_per_second'] / by[peer]['update_events_per_second']:.1f}x")
    if "als" in by:
        notes.append(f"recall / ALS = {ours['recall_at_10'] / by['als']['recall_at_10']:.2f}")
    print("  " + "; ".join(notes))


def history(rows, by, metric, title):
    split = [r for r in rows if r.get("by_history")]
    if not split:
        return
    first = split[0]
    cols = BUCKETS + ["21+", "new items"]
    print()
    print(f"{title} by the learner's prior events (scored events per column; new items: < 50 prior interactions)")
    print(f"{'':<18}" + "".join(f"{c:>10}" for c in cols))
    counts = [first["by_history"][b]["scored"] for b in BUCKETS] + [long_split(first, metric)[1], first["new_items"]["scored"]]
    print(f"{'scored':<18}" + "".join(f"{c:>10}" for c in counts))
    for r in split:
        vals = [r["by_history"][b]["model"][metric] if r["by_history"][b]["scored"] else None for b in BUCKETS]
        vals.append(long_split(r, metric)[0])
        vals.append(r["new_items"]["model"][metric] if r["new_items"]["scored"] else None)
        print(f"{r['model']:<18}" + "".join(fmt(v, 10) for v in vals))
    ours = by.get("learnstream-als")
    if ours is None:
        return
    o, _ = long_split(ours, metric)
    best = [(long_split(by[p], metric)[0], p) for p in PEERS if p in by]
    best = [b for b in best if b[0] is not None]
    notes = []
    if o is not None and "popularity" in by and long_split(by["popularity"], metric)[0]:
        notes.append(f"21+: ours / popularity = {o / long_split(by['popularity'], metric)[0]:.2f}")
    if o is not None and best:
        v, p = max(best)
        if v:
            notes.append(f"ours / best peer ({p}) = {o / v:.2f}")
    if notes:
        print("  " + "; ".join(notes))


def main():
    lines = open(sys.argv[1]).read().splitlines()
    for note in (line for line in lines if line.startswith("#")):
        print(note)
    rows = [json.loads(line) for line in lines if line.strip().startswith("{")]
    by = {r["model"]: r for r in rows}
    totals(rows, by)
    history(rows, by, "recall_at_n", "recall@10")
    history(rows, by, "ndcg_at_n", "NDCG@10")


if __name__ == "__main__":
    main()
