"""Commit cost against history, one `backbone ingest` process per commit.

    python3 bench/ingest_history.py BACKBONE_BINARY WORK_DIR [COMMITS]

The same shape as `crates/store/examples/commit_cost.rs` (20 partners x 12 months, then
every commit replaces one of those 240 submissions, 100 rows each), but every commit is a
real `backbone ingest` process on a real workspace: the binary's allocator, its start and
exit, validation and the archive included. A workspace with the partners and the national
schema is made by `backbone national` and its store emptied, so commit #1 is the first.
Prints the medians of the same windows as commit_cost (wall time of each process, measured
here), and their ratios. Standard library only.
"""

import os
import random
import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    binary, work = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    commits = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    ws = os.path.join(work, "ws")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    subprocess.run(
        [binary, "national", ws, "--partners", "20", "--months", "1", "--rows", "20"],
        check=True,
        capture_output=True,
    )
    for made in ("store", "archive", "processed", "results"):
        shutil.rmtree(os.path.join(ws, made), ignore_errors=True)
    rng = random.Random(1)
    csv = os.path.join(work, "file.csv")
    times = []
    for i in range(commits):
        partner = f"M{i % 20 + 1:04d}"
        month = (i // 20) % 12 + 1
        with open(csv, "w", encoding="utf-8", newline="") as f:
            f.write("person_id,service_date,region,gender,age,service_type,minutes,outcome_improved\n")
            for _ in range(100):
                f.write(
                    f"{100_000_000 + rng.randrange(200_000)},{rng.randint(1, 28):02d}/{month:02d}/2021,"
                    f"חיפה,{rng.choice(['female', 'male'])},{rng.randrange(90)},"
                    f"{rng.choice(['counseling', 'housing', 'health'])},{rng.randrange(5, 600)},"
                    f"{rng.choice(['true', 'false'])}\n"
                )
        started = time.perf_counter()
        done = subprocess.run(
            [binary, "ingest", csv, "--partner", partner, "--schema", "service_records",
             "--period", f"2021-{month:02d}", "-w", ws],
            capture_output=True,
        )
        times.append((time.perf_counter() - started) * 1000)
        if done.returncode != 0:
            sys.exit(f"commit {i + 1} failed: {done.stderr.decode(errors='replace')[-500:]}")
        if (i + 1) % 500 == 0:
            print(f"{i + 1} commits, last one {times[-1]:.1f} ms", file=sys.stderr)

    def median(a: int, b: int) -> float:
        return statistics.median(times[a:b])

    first, last = median(5, 15), median(commits - 20, commits)
    print(f"commits: {commits}, one backbone ingest process each")
    print(f"median of commits #6-#15: {first:.1f} ms")
    print(f"median of the last 20 commits: {last:.1f} ms")
    print(f"ratio: {last / first:.2f}")
    if commits >= 100:
        print(f"ratio of the last 20 to #91-#100: {last / median(90, 100):.2f}")
    print(f"mean of the first 100 commits: {statistics.mean(times[:100]):.1f} ms")
    print(f"mean of the last 100 commits: {statistics.mean(times[-100:]):.1f} ms")
    for k in (25, 50, 100, 250, 500, 1000, 2000, 3000, 4000, 5000):
        if k <= commits:
            print(f"median of commits #{k - 9}-#{k}: {median(k - 10, k):.1f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
