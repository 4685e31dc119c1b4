#!/usr/bin/env bash
# The metrics benchmark of issue 4, on the peers' generated 5M-row file:
#  1. all indicators with all breakdowns on a store holding the whole file, against the
#     peers' DuckDB indicator query on the same file (both timed here, same machine, same run);
#  2. incremental recomputation: the file split by month into one submission per month
#     (36 months), one month resubmitted, `backbone metrics` (incremental) against
#     `backbone metrics --full`.
# usage: bench/metrics.sh BACKBONE_BINARY PYTHON_WITH_DUCKDB [PEERS_DATA_DIR] [WORK_DIR]
set -euo pipefail
BIN=$(realpath "$1"); PY=$2
DATA=${3:-/work/peers/data}; WORK=${4:-/tmp/bench-metrics}
PEERS=$(cd "$(dirname "$0")/../../shared/peers" && pwd)
CSV=$DATA/sr_5m.csv
rm -rf "$WORK"; mkdir -p "$WORK"
t() { /usr/bin/time -f "%e s, peak %M KiB" "$@"; }

workspace() {
  local ws=$1
  mkdir -p "$ws/data-schemas" "$ws/pipelines/indicators"
  "$PY" - "$PEERS/schema.backbone.json" "$ws/data-schemas/service_records.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); s["name"] = "service_records"
json.dump(s, open(sys.argv[2], "w"), ensure_ascii=False)
PY
  {
    echo 'name = { en = "Peers benchmark" }'
    echo 'threshold = 10'
    for i in $(seq -w 1 12); do printf '[[partner]]\nid = "P%s"\nname = { en = "P%s" }\n' "$i" "$i"; done
  } > "$ws/pipelines/initiative.toml"
  cat > "$ws/pipelines/indicators/peers.toml" <<'TOML'
# What the peers' DuckDB query computes: records, distinct persons and the share improved,
# by month, with region and gender breakdowns.
[[indicator]]
id = "records"
label = { en = "Records" }
schema = "service_records"
kind = "count"
date_field = "service_date"
grain = "month"
dimensions = ["region", "gender"]

[[indicator]]
id = "persons"
label = { en = "Distinct persons" }
schema = "service_records"
kind = "distinct_count"
field = "person_id"
date_field = "service_date"
grain = "month"
dimensions = ["region", "gender"]

[[indicator]]
id = "share_improved"
label = { en = "Share improved" }
schema = "service_records"
kind = "ratio"
factor = 100
date_field = "service_date"
grain = "month"
dimensions = ["region", "gender"]
numerator = { kind = "count", filter = "outcome_improved = true" }
denominator = { kind = "count", filter = "outcome_improved IS NOT NULL" }
TOML
}

echo "== 1. one store of the whole file"
WS=$WORK/whole; workspace "$WS"
t "$BIN" ingest "$CSV" --partner P01 --schema service_records --period 2024 --workspace "$WS" > /dev/null
for i in 1 2 3; do echo -n "backbone metrics --full: "; t "$BIN" metrics --full --workspace "$WS" 2>&1 >/dev/null | tail -1; done
"$PY" "$PEERS/duckdb_pipeline.py" validate "$CSV" "$WORK/duckdb" > /dev/null
for i in 1 2 3; do echo -n "duckdb indicators: "; t "$PY" "$PEERS/duckdb_pipeline.py" indicators "$CSV" "$WORK/duckdb" 2>&1 | tr '\n' ' '; echo; done

echo "== 2. one submission per month, one month resubmitted"
WS=$WORK/monthly; workspace "$WS"
"$PY" - "$CSV" "$WORK/months" <<'PY'
import duckdb, sys, os
src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
# Rows whose date is malformed or names no month (the generator's bad dates: 31/13/2024) go
# with January 2023's, as partner files carry their bad rows; there is no period 2024-13.
con.execute(f"""CREATE TABLE t AS SELECT *, CASE WHEN regexp_matches(service_date, '^\\d\\d/(0[1-9]|1[0-2])/\\d{{4}}$')
  THEN substr(service_date, 7, 4) || '-' || substr(service_date, 4, 2) ELSE '2023-01' END AS ym
  FROM read_csv('{src}', all_varchar=true, header=true)""")
for (ym,) in con.execute("SELECT DISTINCT ym FROM t WHERE ym BETWEEN '2023-01' AND '2025-12' ORDER BY 1").fetchall():
    con.execute(f"COPY (SELECT * EXCLUDE (ym) FROM t WHERE ym = '{ym}') TO '{out}/sr_{ym}.csv' (HEADER)")
PY
n=0
for f in "$WORK"/months/sr_*.csv; do
  p=$(basename "$f" .csv); p=${p#sr_}
  "$BIN" ingest "$f" --partner P01 --schema service_records --period "$p" --workspace "$WS" > /dev/null
  n=$((n + 1))
done
echo "$n monthly submissions"
echo -n "first metrics (full): "; t "$BIN" metrics --workspace "$WS" 2>&1 >/dev/null | tail -1
# The resubmission: June 2024 again, without its last 1,000 rows.
head -n -1000 "$WORK/months/sr_2024-06.csv" > "$WORK/sr_2024-06_fixed.csv"
"$BIN" ingest "$WORK/sr_2024-06_fixed.csv" --partner P01 --schema service_records --period 2024-06 --workspace "$WS" > /dev/null
cp -r "$WS/results" "$WORK/results-before"
echo -n "after the resubmission, incremental: "; t "$BIN" metrics --workspace "$WS" 2>&1 | grep -E "incremental|peak" | tr '\n' ' '; echo
for i in 1 2; do
  rm -rf "$WS/results"; cp -r "$WORK/results-before" "$WS/results"
  echo -n "incremental again: "; t "$BIN" metrics --workspace "$WS" 2>&1 >/dev/null | tail -1
done
for i in 1 2; do echo -n "full: "; t "$BIN" metrics --full --out "$WORK/full" --workspace "$WS" 2>&1 >/dev/null | tail -1; done
cmp "$WS/results/indicators.csv" "$WORK/full/indicators.csv" && echo "incremental and full results identical"
