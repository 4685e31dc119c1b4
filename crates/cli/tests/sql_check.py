"""Runs `backbone sql --dialect duckdb` output through DuckDB's delta extension and compares
every published value of results/indicators.csv with it.

usage: python sql_check.py QUERY.sql INDICATORS.parquet (exact; the CSV rounds)
Prints `compared N` and exits 0 when every value agrees, else prints each difference.
"""
import os, sys

import duckdb

con = duckdb.connect()
try:
    import duckdb_extension_delta  # the delta extension from PyPI, for machines offline

    ext = os.path.join(
        os.path.dirname(duckdb_extension_delta.__file__),
        "extensions",
        "v" + duckdb.__version__,
        "delta.duckdb_extension",
    )
    con.execute(f"LOAD '{ext}'")
except ImportError:
    con.execute("INSTALL delta")
    con.execute("LOAD delta")

rows = con.execute(open(sys.argv[1], encoding="utf-8").read()).fetchall()
theirs = {(r[0], r[1], r[2]): (r[3], r[6]) for r in rows}
bad, compared, hidden = [], 0, 0
published = con.execute(
    "SELECT indicator, period, breakdown, value FROM read_parquet(?)", [sys.argv[2]]
).fetchall()
for indicator, period, breakdown, ours in published:
    key = (indicator, period, breakdown)
    if key not in theirs:
        if ours is not None:
            bad.append(f"{key}: backbone {ours}, no row in the SQL")
        continue
    value, small = theirs[key]
    if ours is None:
        # A hidden cell (every cell the SQL marks small must be one).
        hidden += 1
        continue
    if small:
        bad.append(f"{key}: the SQL marks it small, backbone published {ours}")
    if value is None or abs(ours - value) > 1e-9 * max(1.0, abs(value)):
        bad.append(f"{key}: backbone {ours!r}, DuckDB {value!r}")
    compared += 1
missing = set(theirs) - {(i, p, b) for i, p, b, _ in published}
for key in sorted(missing)[:20]:
    bad.append(f"{key}: in the SQL, not in backbone's results")
print(f"compared {compared}, hidden {hidden}, sql rows {len(rows)}")
for b in bad[:50]:
    print(b)
sys.exit(1 if bad else 0)
