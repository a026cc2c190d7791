"""chDB harness for the analytics tests.

The Go tests start this script with a python that has chdb installed and
talk to it over stdin/stdout. Each request is one JSON line; an insert
request is followed by exactly `bytes` bytes of JSONEachRow data. Each
response is one JSON line: {"ok": true, ...} or {"ok": false, "error": "..."}.

  {"op": "exec",   "sql": "..."}
  {"op": "query",  "sql": "...", "params": {"name": "value"}}   -> "rows", "elapsed"
  {"op": "insert", "table": "t", "columns": ["a", "b"], "bytes": N}
  {"op": "close"}

All statements run in one chDB session (a fresh temporary directory given as
the first argument) with the database `learnstream` as the current one.
"""

import json
import sys
import time

from chdb import session as chs


def main():
    path = sys.argv[1]
    sess = chs.Session(path)
    sess.query("CREATE DATABASE IF NOT EXISTS learnstream")
    sess.query("USE learnstream")
    sess.query("SET output_format_json_quote_64bit_integers = 0")
    sess.query("SET output_format_json_quote_decimals = 0")
    inp = sys.stdin.buffer
    out = sys.stdout

    def reply(obj):
        out.write(json.dumps(obj))
        out.write("\n")
        out.flush()

    reply({"ok": True, "ready": True})
    while True:
        line = inp.readline()
        if not line:
            break
        req = json.loads(line)
        op = req.get("op")
        data = None
        if op == "insert":
            n = int(req["bytes"])
            data = inp.read(n)
            if len(data) != n:
                reply({"ok": False, "error": "short insert payload"})
                break
        try:
            if op == "exec":
                sess.query(req["sql"])
                reply({"ok": True})
            elif op == "query":
                t0 = time.perf_counter()
                res = sess.query(req["sql"], "JSONEachRow", params=req.get("params") or {})
                elapsed = time.perf_counter() - t0
                text = res.bytes().decode("utf-8")
                rows = [json.loads(l) for l in text.splitlines() if l.strip()]
                reply({"ok": True, "rows": rows, "elapsed": elapsed})
            elif op == "insert":
                cols = ", ".join(req["columns"])
                sql = "INSERT INTO %s (%s) FORMAT JSONEachRow\n" % (req["table"], cols)
                sess.query(sql + data.decode("utf-8"))
                reply({"ok": True})
            elif op == "close":
                reply({"ok": True})
                break
            else:
                reply({"ok": False, "error": "unknown op %r" % op})
        except Exception as e:  # report, keep serving
            reply({"ok": False, "error": str(e)})
    sess.close()


if __name__ == "__main__":
    main()
