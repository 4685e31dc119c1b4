#!/usr/bin/env bash
# The scale benchmark of issue 20: a national initiative's store (200 partners × 60 monthly
# submissions, people recurring across partners and years) at several sizes, and for each size
# the time and peak memory of every command that reads the whole store, against DuckDB running
# `backbone sql`'s query for the same indicators on the same Delta table in the same run (the
# script also checks that DuckDB's values equal backbone's, as the CI test does on the demo).
# Then the cost of one commit (one `backbone ingest` process) on a store of 10 submissions and
# on the largest store.
#
# usage: bench/national.sh BACKBONE_BINARY PYTHON_WITH_DUCKDB_DELTA [WORK_DIR] [ROWS...]
#   e.g. bench/national.sh target/release/backbone ~/.cache/backbone/ci-venv/bin/python \
#          /tmp/national 5000000 20000000 100000000
# A store is generated once per size (`backbone national`, minutes at 10⁸ rows, about 4 GB)
# and kept in WORK_DIR for the next run. DuckDB needs its delta extension
# (`pip install duckdb==1.4.4 duckdb-extension-delta==1.4.4`). PARTNERS and MONTHS (200, 60)
# change the store's shape, for a quick try of the script itself.
set -euo pipefail
PARTNERS=${PARTNERS:-200}; MONTHS=${MONTHS:-60}
LAST_MONTH=$(date -u -d "2021-01-01 +$((MONTHS - 1)) months" +%Y-%m)
BIN=$(realpath "$1"); PY=$2; case $PY in */*) PY=$(realpath -s "$PY") ;; esac
WORK=$(realpath -m "${3:-/tmp/national}"); shift $(( $# < 3 ? $# : 3 ))
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(5000000 20000000 100000000)
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK=$HERE/../crates/cli/tests/sql_check.py
mkdir -p "$WORK"
t() { /usr/bin/time -f "%e s, peak %M KiB" "$@"; }
# The time and peak line of a command, its own output thrown away; a command that failed says
# so with its first line of error instead.
timed() {
  { t "$@" > /dev/null 2> "$WORK/err"; } 2>&1
  if grep -q '^Command exited with non-zero status' "$WORK/err"; then
    echo "FAILED: $(head -1 "$WORK/err")"
  else
    tail -1 "$WORK/err"
  fi
}

# ", a full computation: WHY" when the last timed command's log says it computed everything.
why_full() {
  local why
  why=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/err" | grep -o 'a full computation why="[^"]*"' | head -1 \
    | sed 's/^a full computation why="\([^"]*\)"/\1/')
  [ -z "$why" ] || echo ", a full computation: $why"
}

# A partner's file for one month of the national schema: N rows, people drawn from the
# store's own (so that distinct counts change), written as a partner would (dd/mm/yyyy).
partner_file() { # OUT PERIOD N SEED
  "$PY" - "$@" <<'PY'
import csv, random, sys
out, period, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
y, m = map(int, period.split("-"))
r = random.Random(seed)
with open(out, "w", newline="", encoding="utf-8") as f:
    w = csv.writer(f)
    w.writerow(["person_id", "service_date", "region", "gender", "age", "service_type",
                "minutes", "outcome_improved"])
    for _ in range(n):
        w.writerow([str(100_000_000 + r.randrange(200_000)), f"{r.randint(1, 28):02d}/{m:02d}/{y}",
                    "חיפה", r.choice(["female", "male", ""]), r.randrange(90),
                    r.choice(["counseling", "housing", "health"]), r.randrange(5, 600),
                    r.choice(["true", "false", ""])])
PY
}

for ROWS in "${SIZES[@]}"; do
  WS=$WORK/w$ROWS
  if [ ! -d "$WS/store" ]; then
    echo -n "generate $ROWS rows: "
    { t "$BIN" national "$WS" --rows "$ROWS" --partners "$PARTNERS" --months "$MONTHS" > /dev/null 2> "$WORK/gen.err"; } 2>&1; tail -1 "$WORK/gen.err"
  fi
  echo "== $ROWS rows ($(du -sh "$WS/store/tables" | cut -f1) of Parquet)"
  for i in 1 2; do echo "metrics --full: $(timed "$BIN" metrics --full -w "$WS")"; done
  "$BIN" sql -w "$WS" > "$WORK/q.sql"
  # DUCKDB_MAX_ROWS: above it DuckDB is not run (at 10⁸ rows it takes ~21 GB of memory and
  # spills up to ~10 GB into .tmp of its working directory, WORK here).
  [ "$ROWS" -le "${DUCKDB_MAX_ROWS:-$ROWS}" ] && for i in 1 2; do
    echo -n "duckdb, backbone sql: "
    { (cd "$WORK" && t "$PY" "$CHECK" "$WORK/q.sql" "$WS/results/indicators.parquet") > "$WORK/check.out" 2> "$WORK/err"; } 2>&1 || true
    tail -1 "$WORK/err" | tr '\n' ' '; head -1 "$WORK/check.out"
    if [ "$(wc -l < "$WORK/check.out")" -gt 1 ]; then echo "DuckDB and backbone disagree:"; head -20 "$WORK/check.out"; exit 1; fi
  done
  echo "status: $(timed "$BIN" status -w "$WS")"
  echo "history: $(timed "$BIN" history --schema service_records -w "$WS")"
  echo "explain: $(timed "$BIN" explain persons "$LAST_MONTH" region=חיפה -w "$WS")"
  echo "export: $(timed "$BIN" export service_records -o /dev/null -w "$WS")"
  # One submission again (M0003's last month), then the incremental computation.
  # Seeded by the clock: a store kept from an earlier run already holds last time's file, and
  # the same bytes again are a duplicate that changes nothing (and would time an empty run).
  partner_file "$WORK/again.csv" "$LAST_MONTH" 3000 "$(date +%s%N)"
  echo "ingest (resubmission): $(timed "$BIN" ingest "$WORK/again.csv" --partner M0003 --schema service_records --period "$LAST_MONTH" -w "$WS")"
  # With the reason a run computed everything, when it did (metrics logs it at debug level).
  echo "metrics (incremental): $(RUST_LOG=backbone_metrics=debug timed "$BIN" metrics -w "$WS")$(why_full)"
  cp "$WS/results/indicators.csv" "$WORK/incremental.csv"
  full=$(timed "$BIN" metrics --full -w "$WS")
  echo "metrics --full: $full"
  # A failed full run leaves the incremental results in place: equal to themselves.
  case "$full" in FAILED*) echo "incremental and full results not compared: the full run failed"; exit 1 ;; esac
  cmp -s "$WORK/incremental.csv" "$WS/results/indicators.csv" \
    && echo "incremental results = full results" \
    || { echo "incremental and full results differ"; diff "$WORK/incremental.csv" "$WS/results/indicators.csv" | head; exit 1; }
  # The night: one file in the inbox, ingested, indicators and report recomputed.
  mkdir -p "$WS/inbox/M0004"
  partner_file "$WS/inbox/M0004/service_records_$LAST_MONTH.csv" "$LAST_MONTH" 3000 "$(date +%s%N)"
  echo "run (one file): $(RUST_LOG=backbone_metrics=debug timed "$BIN" run -w "$WS")$(why_full)"
done

echo "== commit cost: one backbone ingest process, a new file for an existing month"
SMALL=$WORK/small
[ -d "$SMALL/store" ] || "$BIN" national "$SMALL" --partners 10 --months 1 --rows 20000 > /dev/null 2>&1
LAST=${SIZES[-1]}
# M0005, or M0001 in a quick try with fewer partners (the small store always has ten).
P=$(printf 'M%04d' $(( PARTNERS < 5 ? 1 : 5 )))
for ws in "$SMALL" "$WORK/w$LAST"; do
  n=$("$BIN" status -w "$ws" | tail -n +2 | wc -l)
  for i in 1 2 3; do
    partner_file "$WORK/commit.csv" 2021-01 1000 "$((i * 7 + n))"
    echo "ingest after $n submissions: $(timed "$BIN" ingest "$WORK/commit.csv" --partner "$P" --schema service_records --period 2021-01 -w "$ws")"
  done
done
