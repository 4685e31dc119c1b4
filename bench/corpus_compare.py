#!/usr/bin/env python3
"""Every spreadsheet of ../shared/corpora/realfiles/ read by backbone and by python-calamine,
compared cell for cell (the sheet backbone chooses, as python-calamine reads that sheet);
every text file read by backbone and by Python's csv module with the encoding and the
delimiter backbone detected (so what is compared is the parsing: quotes, line ends, cells).

    python3 -m venv /tmp/cc && /tmp/cc/bin/pip install python-calamine
    /tmp/cc/bin/python bench/corpus_compare.py target/release/backbone ../shared/corpora/realfiles

Cells are compared as a person reads them: trimmed text; numbers as numbers (to 1e-9);
date cells as backbone shows them (dd/mm/yyyy, with the time when there is one); booleans
TRUE/FALSE; trailing empty cells and rows dropped. Prints one line per file that differs
(the first differing cell of each) and a summary; `--json` writes the details.

`--check bench/corpus_judged.json` exits 1 when a file differs or is refused without being
listed there with the reason backbone's reading was judged right (the test
`corpora::cell_for_cell_as_python_calamine_reads` runs it so).
"""
import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

SHEETS = {"xlsx", "xlsm", "xls", "xlsb", "ods"}
TEXTS = {"csv", "tsv", "txt", "psv", "ssv"}


def norm_py(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, dt.datetime):
        if v.time() == dt.time(0, 0):
            return v.strftime("%d/%m/%Y")
        return v.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(v, dt.date):
        return v.strftime("%d/%m/%Y")
    if isinstance(v, dt.time):
        ms = round(v.microsecond / 1000)
        return v.strftime("%H:%M:%S") + (f".{ms:03}" if ms else "")
    if isinstance(v, dt.timedelta):
        total = round(v.total_seconds() * 1000)
        s, ms = divmod(total, 1000)
        return f"{s // 3600:02}:{s % 3600 // 60:02}:{s % 60:02}" + (f".{ms:03}" if ms else "")
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    return str(v).strip()


def same(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    except ValueError:
        return False


def trimmed(rows):
    rows = [list(r) for r in rows]
    for r in rows:
        while r and r[-1] == "":
            r.pop()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def csv_cells(path, encoding, delimiter):
    import codecs
    import csv
    import io
    raw = path.read_bytes()
    name = codecs.lookup(encoding or "utf-8").name
    if name == "utf-8":
        name = "utf-8-sig"
    elif name.startswith("utf-16"):
        name = "utf-16"
    text = raw.decode(name, errors="replace")
    # Line ends as backbone reads them: CRLF, LF, and a lone CR ("CSV (Macintosh)").
    rows = csv.reader(io.StringIO(text, newline=None), delimiter=delimiter or ",")
    out = []
    for r in rows:
        out.append([c.strip().replace("\r\n", "\n") for c in r])
        if len(out) >= 20000:
            break
    return trimmed(out)


def backbone_cells(binary, path):
    out = subprocess.run([binary, "cells", str(path), "--max-rows", "20000"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        return None, None, (out.stderr.strip().splitlines() or ["?"])[-1]
    lines = out.stdout.splitlines()
    head = json.loads(lines[0])
    sheet = head["sheet"]
    backbone_cells.read_as = (head.get("encoding"), head.get("delimiter"))
    grid = {}
    for line in lines[1:]:
        d = json.loads(line)
        grid[d["row"]] = d["cells"]
    last = max(grid) if grid else 0
    return sheet, trimmed([grid.get(n, []) for n in range(1, last + 1)]), None


def calamine_cells(path, sheet):
    from python_calamine import CalamineWorkbook
    wb = CalamineWorkbook.from_path(str(path))
    rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    return trimmed([[norm_py(v) for v in r] for r in rows[:20000]])


def main():
    binary, root = sys.argv[1], Path(sys.argv[2])
    details = "--json" in sys.argv
    manifest = json.loads((root / "manifest.json").read_text())
    tally = {"same": 0, "differ": 0, "backbone refused": 0, "calamine refused": 0}
    report = []
    for entry in manifest:
        path = root / entry["file"]
        ext = path.suffix.lower().lstrip(".")
        if ext not in SHEETS | TEXTS or not path.is_file():
            continue
        sheet, ours, refused = backbone_cells(binary, path)
        if refused is None and sheet is None:
            encoding, delimiter = backbone_cells.read_as
            ours = [[c.replace("\r\n", "\n") for c in r] for r in ours]
            try:
                theirs, their_error = csv_cells(path, encoding, delimiter), None
            except Exception as e:  # noqa: BLE001
                theirs, their_error = None, str(e).splitlines()[0]
        else:
            theirs, their_error = None, None
        try:
            if theirs is None and their_error is None and sheet is not None:
                theirs = calamine_cells(path, sheet)
        except Exception as e:  # noqa: BLE001 - any failure of the other reader is its answer
            theirs, their_error = None, str(e).splitlines()[0] if str(e) else type(e).__name__
        if refused is not None:
            tally["backbone refused"] += 1
            report.append({"file": entry["file"], "backbone": refused})
            print(f"REFUSED  {entry['file']}: {refused}")
            continue
        if theirs is None:
            tally["calamine refused"] += 1
            report.append({"file": entry["file"], "calamine": their_error})
            print(f"THEIRS   {entry['file']}: python-calamine: {their_error}")
            continue
        diff = None
        for r in range(max(len(ours), len(theirs))):
            a = ours[r] if r < len(ours) else []
            b = theirs[r] if r < len(theirs) else []
            for c in range(max(len(a), len(b))):
                x = a[c] if c < len(a) else ""
                y = b[c] if c < len(b) else ""
                if not same(x, y):
                    diff = (r + 1, c + 1, x, y)
                    break
            if diff:
                break
        if diff is None:
            tally["same"] += 1
        else:
            tally["differ"] += 1
            r, c, x, y = diff
            report.append({"file": entry["file"], "sheet": sheet, "row": r, "column": c,
                           "backbone": x, "calamine": y})
            print(f"DIFFER   {entry['file']} [{sheet}] row {r} col {c}: backbone {x[:60]!r} / calamine {y[:60]!r}")
    print(json.dumps(tally))
    if "--check" in sys.argv:
        judged = json.loads(Path(sys.argv[sys.argv.index("--check") + 1]).read_text())
        unjudged = [r for r in report if r["file"] not in judged]
        for r in unjudged:
            print(f"NOT JUDGED {r}")
        if unjudged:
            sys.exit(1)
    if details:
        Path("corpus_compare.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
