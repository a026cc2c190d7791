"""Prints the side-by-side table of bench/lrs/run.sh from its results.jsonl."""

import json
import sys

LOADS = {
    "single8": "single POST, 8 clients",
    "single32": "single POST, 32 clients",
    "batch100": "POST batches of 100, 4 clients",
}


def ms(ns):
    if ns is None:
        return "-"
    v = ns / 1e6
    return f"{v:.1f} ms" if v < 100 else f"{v:,.0f} ms"


def row(r):
    if "acknowledged" not in r:
        return [r["lrs"], "failed: " + r.get("error", "exit %d" % r.get("exit", -1))] + [""] * 6
    lat = r.get("latency", {})
    acked = r["acknowledged"]
    srv = r.get("server") or {}
    if "verified" in r:
        v = r["verified"]
        missing = len(v.get("missing") or [])
        kept = f"{v['checked'] - missing:,}/{acked:,} read back"
    elif "stored" in r:
        kept = f"{r['stored']:,} lines stored / {acked:,}"
    else:
        kept = "not checked (floor)"
    e2e = srv.get("end_to_end_per_second")
    cpu = srv.get("cpu_per_statement")
    disk = r.get("disk_kb", 0) * 1024 / acked / 1024 if acked else 0
    return [
        r["lrs"],
        f"{r['statements_per_second']:,.0f}",
        f"{ms(lat.get('p50'))} / {ms(lat.get('p99'))}",
        f"{e2e:,.0f}" if e2e else "-",
        ms(cpu) if cpu else "-",
        f"{r.get('failed_statements', 0):,}",
        kept,
        f"{disk:.2f} KB" if acked and r["lrs"] != "floor" else "-",
    ]


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    head = ["server", "acknowledged/s", "p50 / p99 per request", "end to end/s",
            "CPU per statement", "failed", "kept", "disk per statement"]
    for load, title in LOADS.items():
        rs = [r for r in rows if r["load"] == load]
        if not rs:
            continue
        print(f"\n{title}\n")
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rs:
            print("| " + " | ".join(row(r)) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
