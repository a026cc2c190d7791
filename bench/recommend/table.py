#!/usr/bin/env python3
"""Print the JSON lines of one bench/recommend run as a table, with the
ratios the goals are stated in (recall vs popularity, river and ALS; update
rate vs river)."""
import json
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
    by = {r["model"]: r for r in rows}
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


if __name__ == "__main__":
    main()
