#!/usr/bin/env python3
"""backbone validate against its peers, on the same machine in the same run.

    python3 bench/validate.py [PEERS_DIR]        # PEERS_DIR default: target/peers

PEERS_DIR must hold what ../shared/peers/run.sh makes (its venv and data/): run that once
first, or `RUNS=1 ONLY=nothing bash ../shared/peers/run.sh` to only install and generate.
Each case runs RUNS times (default 3), alternating tools, under /usr/bin/time -v; the table
shows medians of wall time and peak RSS, and backbone's time as a ratio of the peer's.
"""
import json, os, re, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_SRC = os.path.join(ROOT, "..", "shared", "peers")
PEERS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "peers")
RUNS = int(os.environ.get("RUNS", "3"))
BACKBONE = os.environ.get("BACKBONE", os.path.join(ROOT, "target", "release", "backbone"))
PY = os.path.join(PEERS, "venv", "bin", "python")
OUT = tempfile.mkdtemp(prefix="bench-")


def timed(cmd):
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
    h = int(wall.group(1) or 0)
    secs = h * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1)) / 1024
    return secs, rss, r.stdout


def case(label, cmd):
    return {"label": label, "cmd": cmd, "wall": [], "rss": []}


data = os.path.join(PEERS, "data")
cases = [
    ("validate 5M-row CSV", [
        case("backbone validate (schema.backbone.json)", [BACKBONE, "validate", f"{data}/sr_5m.csv", "--schema",
             f"{PEERS_SRC}/schema.backbone.json", "--format", "json"]),
        case("polars (Python) validate", [PY, f"{PEERS_SRC}/polars_pipeline.py", "validate", f"{data}/sr_5m.csv", OUT]),
    ]),
    ("read/validate 100k-row xlsx", [
        case("backbone validate (schema.backbone.json)", [BACKBONE, "validate", f"{data}/sr_100k.xlsx", "--schema",
             f"{PEERS_SRC}/schema.backbone.json", "--format", "json"]),
        case("polars + calamine read_excel", [PY, f"{PEERS_SRC}/excel_read.py", "polars_calamine", f"{data}/sr_100k.xlsx"]),
    ]),
]

for _, group in cases:
    subprocess.run(["cat", group[0]["cmd"][2]], stdout=subprocess.DEVNULL)  # warm the page cache
    for _ in range(RUNS):
        for c in group:
            w, m, _ = timed(c["cmd"])
            c["wall"].append(w)
            c["rss"].append(m)

print(f"| task | tool | wall (median of {RUNS}) | peak RSS | backbone / peer |")
print("|---|---|---:|---:|---:|")
for task, group in cases:
    ours = statistics.median(group[0]["wall"])
    for c in group:
        w = statistics.median(c["wall"])
        ratio = "" if c is group[0] else f"{ours / w:.2f}×"
        print(f"| {task} | {c['label']} | {w:.2f} s | {statistics.median(c['rss']):.0f} MiB | {ratio} |")
