#!/usr/bin/env python3
"""Print the JSON lines of one bench/recommend run as tables: the totals
with the ratios the goals are stated in (recall vs popularity, river and
ALS; update rate vs river), then recall@10 and NDCG@10 by the learner's
number of prior events (by_history) and on new items (fewer than 50 prior
interactions), for every model of the run.

With --markdown the same figures come as the Markdown tables of
docs/recommendations.md; with --marks X:LABEL,... (e.g. the start day of each
OULAD presentation) a table of each model's recall@10 in the four windows
before each mark and in the two windows from it and the two after: how fast
a model adapts to new content.

usage: table.py RESULTS.jsonl [--markdown] [--marks X:LABEL,...]"""
import argparse
import json
import math

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


NAMES = {"learnstream-als": "learnstream (default: MF + sequence rules)", "learnstream-mf": "learnstream MF alone",
         "learnstream-content": "learnstream + content", "learnstream-isgd": "learnstream ISGD", "popularity": "popularity",
         "river-funk": "river FunkMF", "river-biased": "river BiasedMF", "als": "implicit ALS (retrained)"}


def markdown(rows):
    name = lambda r: NAMES.get(r["model"], r["model"])
    best_r = max(r["recall_at_10"] for r in rows)
    best_n = max(r["ndcg_at_10"] for r in rows)
    bold = lambda v, best: f"**{v:.4f}**" if v == best else f"{v:.4f}"
    print("| model | recall@10 | NDCG@10 | rank+learn events/s | learn events/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        # The popularity row's speed is peers.py's Python bookkeeping, not a
        # model's: left out.
        eps = None if r["model"] == "popularity" else r.get("events_per_second")
        ups = r.get("update_events_per_second")
        print(f"| {name(r)} | {bold(r['recall_at_10'], best_r)} | {bold(r['ndcg_at_10'], best_n)} | "
              f"{'' if eps is None else f'{eps:,}'} | {'' if ups is None else f'{ups:,}'} |")
    split = [r for r in rows if r.get("by_history")]
    if not split:
        return
    cols = [c for c in BUCKETS if split[0]["by_history"][c]["scored"]]
    print()
    print("recall@10 / NDCG@10 by the learner's prior events, and on new items (< 50 prior interactions); "
          "best recall in bold:")
    print()
    print("| model | " + " | ".join(cols) + " | new items |")
    print("|---" * (len(cols) + 2) + "|")
    print("| scored events | " + " | ".join(f"{split[0]['by_history'][c]['scored']:,}" for c in cols) +
          f" | {split[0]['new_items']['scored']:,} |")

    def cell(sp, best):
        m = sp["model"]
        v = f"{m['recall_at_n']:.4f} / {m['ndcg_at_n']:.4f}"
        return f"**{v}**" if best > 0 and m["recall_at_n"] == best else v
    bests = {c: max(r["by_history"][c]["model"]["recall_at_n"] for r in split) for c in cols}
    bnew = max(r["new_items"]["model"]["recall_at_n"] for r in split)
    for r in split:
        print(f"| {name(r)} | " + " | ".join(cell(r["by_history"][c], bests[c]) for c in cols) +
              f" | {cell(r['new_items'], bnew)} |")


def adaptation(rows, marks, md):
    """recall@10 pooled over the 4 windows before each mark, the 2 windows
    from the first window starting at or after it, and the 2 after those."""
    curves = [r for r in rows if r.get("curve")]
    if not curves:
        return
    pts0 = curves[0]["curve"]["points"]
    width = pts0[0]["end"] - pts0[0]["start"]

    def pooled(pts, lo, hi):
        sel = [p for p in pts if p["start"] >= lo - 1e-9 and p["end"] <= hi + 1e-9]
        n = sum(p["scored"] for p in sel)
        return sum(p["model"]["hits"] for p in sel) / n if n else math.nan
    starts = []
    for x, label in marks:
        after = [p["start"] for p in pts0 if p["start"] >= x]
        if after:
            starts.append((min(after), label))
    head = [f"{label}: before / first {2 * width:.0f} / next {2 * width:.0f}" for _, label in starts]
    print()
    print(f"recall@10 around each mark (windows of {width:.1f}; 4 windows before, 2 from the first window starting at the mark, 2 after):")
    if md:
        print()
        print("| model | " + " | ".join(head) + " |")
        print("|---" * (len(head) + 1) + "|")
    else:
        print(f"{'':<18}" + "".join(f"{h:>36}" for h in head))
    for r in curves:
        pts = r["curve"]["points"]
        cells = [f"{pooled(pts, a - 4 * width, a):.2f} / {pooled(pts, a, a + 2 * width):.2f} / "
                 f"{pooled(pts, a + 2 * width, a + 4 * width):.2f}" for a, _ in starts]
        if md:
            print(f"| {NAMES.get(r['model'], r['model'])} | " + " | ".join(cells) + " |")
        else:
            print(f"{r['model']:<18}" + "".join(f"{c:>36}" for c in cells))


def consistent(r):
    """A row's splits partition its scored events and add up to its recall."""
    h, c = r.get("by_history"), r.get("curve")
    if not h or not c:
        return True
    scored = sum(v["scored"] for v in h.values())
    hits = sum(v["model"]["hits"] for v in h.values())
    return (scored == r["scored"] == sum(p["scored"] for p in c["points"])
            and hits == sum(p["model"]["hits"] for p in c["points"])
            and abs(hits / max(scored, 1) - r["recall_at_10"]) < 1e-9)


def check(by):
    """The same protocol on both sides: peers.py's popularity must score the
    same hits as learnstream's popularity baseline in every split and window
    (both replay the same stream with the same tie rule); and every row's
    splits must add up to its totals."""
    odd = [m for m, r in by.items() if not consistent(r)]
    if odd:
        print()
        print("split check: the splits do not add up to the totals for " + ", ".join(odd))
    ours, pop = by.get("learnstream-als"), by.get("popularity")
    if not ours or not pop or not ours.get("by_history") or not pop.get("by_history"):
        return
    bad = [f"by_history {b}" for b in BUCKETS
           if ours["by_history"][b]["baseline"]["hits"] != pop["by_history"][b]["model"]["hits"]
           or ours["by_history"][b]["scored"] != pop["by_history"][b]["scored"]]
    if ours["new_items"]["baseline"]["hits"] != pop["new_items"]["model"]["hits"]:
        bad.append("new_items")
    po, pp = ours["curve"]["points"], pop["curve"]["points"]
    if len(po) != len(pp):
        bad.append(f"curve ({len(po)} vs {len(pp)} windows)")
    else:
        bad += [f"window {k}" for k, (a, b) in enumerate(zip(po, pp))
                if (a["scored"], a["baseline"]["hits"]) != (b["scored"], b["model"]["hits"])]
    print()
    print("protocol check: peers.py popularity " + ("= learnstream's popularity baseline in every split and window"
                                                     if not bad else "DIFFERS from learnstream's baseline: " + ", ".join(bad)))


def parse_marks(s):
    out = []
    for part in filter(None, (p.strip() for p in s.split(","))):
        x, _, label = part.partition(":")
        out.append((float(x), label))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--marks", default="")
    a = ap.parse_args()
    lines = open(a.results).read().splitlines()
    for note in (line for line in lines if line.startswith("#")):
        print(note)
    rows = [json.loads(line) for line in lines if line.strip().startswith("{")]
    by = {r["model"]: r for r in rows}
    if a.markdown:
        markdown(rows)
    else:
        totals(rows, by)
        history(rows, by, "recall_at_n", "recall@10")
        history(rows, by, "ndcg_at_n", "NDCG@10")
    if a.marks:
        adaptation(rows, parse_marks(a.marks), a.markdown)
    check(by)


if __name__ == "__main__":
    main()
