#!/usr/bin/env bash
# Runs one fuzz target for SECONDS (default 60) on stable Rust: cargo fuzz with --sanitizer none
# (the address sanitizer needs a nightly compiler, which these machines cannot fetch). The seed
# corpus is the test fixtures of the target's format; libFuzzer keeps what it finds under
# fuzz/corpus/TARGET (not committed). An input that panics, aborts, takes more than 10 s or
# more than 512 MB is written to fuzz/artifacts/TARGET/; copy it to tests/fixtures/fuzz/TARGET/,
# where `cargo test -p backbone-ingest` keeps it fixed.
#
#   fuzz/run.sh csv 600        # ten minutes of the CSV reader
#   fuzz/run.sh all 30         # thirty seconds of each target (what .ci/run does)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
target="${1:?usage: fuzz/run.sh csv|xlsx|ods|xls|schema|all [SECONDS]}"
seconds="${2:-60}"
export CARGO_TARGET_DIR="${BACKBONE_FUZZ_TARGET_DIR:-$HOME/.cache/backbone/fuzz-target}"
# Each target's process writes its inputs to one file in the temporary folder (the reader takes
# a path); libFuzzer ends the process with exit(), so the file outlives it. A folder of our own,
# removed when the script ends, keeps them from piling up in /tmp over repeated runs.
scratch="$(mktemp -d "${TMPDIR:-/tmp}/backbone-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
export TMPDIR="$scratch"

seed() {
  local t="$1" dir="$here/corpus/$1"
  mkdir -p "$dir"
  case "$t" in
    csv) patterns=("*.csv" "*.tsv") ;;
    xlsx) patterns=("*.xlsx") ;;
    ods) patterns=("*.ods") ;;
    xls) patterns=("*.xls") ;;
    schema) patterns=("*.json") ;;
  esac
  for p in "${patterns[@]}"; do
    find "$root/tests/fixtures" "$root/data-schemas" -name "$p" -size -1024k -exec cp -n {} "$dir/" \; 2>/dev/null || true
  done
  if [ -d "$root/tests/fixtures/fuzz/$t" ]; then
    cp -n "$root/tests/fixtures/fuzz/$t/"* "$dir/" 2>/dev/null || true
  fi
}

run() {
  local t="$1"
  seed "$t"
  mkdir -p "$here/artifacts/$t"
  (cd "$here" && cargo fuzz run --sanitizer none "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=512 -malloc_limit_mb=512 -timeout=10 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1)
}

if [ "$target" = all ]; then
  for t in csv xlsx ods xls schema; do run "$t"; done
else
  run "$target"
fi
