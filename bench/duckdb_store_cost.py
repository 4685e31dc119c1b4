#!/usr/bin/env python3
"""What storing validated rows costs DuckDB, as a ratio to DuckDB validating them.

usage: duckdb_store_cost.py SR_5M.CSV [ROUNDS]
       (run with the peers' venv: $PEERS_DIR/venv/bin/python, PEERS_DIR=target/peers)

The peer for issue 3's ingest goal ("ingest <= 1.3x validate"). It takes the very query of the
peers' `duckdb_pipeline.py validate` (every rule of spec.py, typed columns) and runs it,
alternating, in three ways:
  validate      every column computed, nothing kept (count() of each column, which needs its value computed,
                so DuckDB cannot skip a column's work)
  parquet       the same rows written to Parquet (snappy, DuckDB's default)
  hash+parquet  the same, person_id replaced by sha256(secret || person_id) first: one
                SHA-256 per row, cheaper than backbone's HMAC (two compressions per row)
No archive copy, no Delta commit, no rejects table: DuckDB is spared all three.
Prints wall seconds per round and each ratio to `validate`.
"""
import os, sys, tempfile, time

sys.path.insert(0, os.environ.get("PEERS_SRC", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "peers")))
import duckdb  # noqa: E402
import duckdb_pipeline as dp  # noqa: E402


class Recorder:
    """Stands in for a connection: keeps the body of the first `COPY (...) TO`."""

    def __init__(self):
        self.body = None

    def execute(self, sql):
        s = sql.strip()
        if self.body is None and s.startswith("COPY ("):
            self.body = s[len("COPY ("):].rpartition(") TO ")[0]
        raise StopIteration


def validation_query(csv):
    rec = Recorder()
    try:
        dp.validate(rec, csv, "unused.parquet")
    except StopIteration:
        pass
    if rec.body is None:
        sys.exit("duckdb_pipeline.validate no longer issues COPY (...) TO: update this script")
    return rec.body


def run(mode, body, out):
    con = duckdb.connect()
    if mode == "validate":
        sql = f"SELECT count(*), count(errors), count(COLUMNS(*)) FROM ({body})"
        t = time.perf_counter()
        con.execute(sql).fetchall()
        return time.perf_counter() - t
    if mode == "hash+parquet":
        body = f"SELECT * REPLACE (sha256('an initiative secret of 32 bytes' || person_id) AS person_id) FROM ({body})"
    t = time.perf_counter()
    con.execute(f"COPY ({body}) TO '{out}' (FORMAT parquet, COMPRESSION snappy)")
    took = time.perf_counter() - t
    os.remove(out)
    return took


def main():
    csv = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    body = validation_query(csv)
    out = os.path.join(tempfile.mkdtemp(), "out.parquet")
    modes = ["validate", "parquet", "hash+parquet"]
    print(f"duckdb {duckdb.__version__}, {csv}")
    for r in range(rounds):
        t = {m: run(m, body, out) for m in modes}
        print(f"round {r + 1}: " + ", ".join(f"{m} {t[m]:.2f} s" for m in modes)
              + " | ratios " + ", ".join(f"{m} {t[m] / t['validate']:.2f}x" for m in modes[1:]))


if __name__ == "__main__":
    main()
