"""docs/performance.md, written from a run's figures (bench/results.json), never by hand.

    .venv/bin/python -m bench.performance_doc                     # from bench/results.json
    .venv/bin/python -m bench.performance_doc --json other.json --out /tmp/performance.md

bench/run.py writes it after every full run; this entry point rewrites it from stored figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
DOC = ROOT / "docs" / "performance.md"


def render(results: dict[str, Any], command: str) -> str:
    """The page: which run, on what, with which command; then every row as the run printed it."""
    info = results["machine"]
    took = sum(float(s) for s in results.get("seconds", {}).values())
    sections = ", ".join(results.get("seconds", {})) or "none recorded"
    lines = [
        "# Performance",
        "",
        "<!-- Written by bench/run.py (or `python -m bench.performance_doc` from bench/results.json);"
        " edits here are overwritten. -->",
        "",
        f"Figures of one run of `{command}`, written from `bench/results.json` by the benchmark itself.",
        "The goals are printed beside the figures, never asserted by a test. What the figures mean,",
        "what limits the goals missed, and measurements from other sittings:",
        "[measured notes](measured-notes.md).",
        "",
        "| run | |",
        "| --- | --- |",
        f"| date | {info.get('when')} |",
        f"| commit | `{info.get('commit')}` |",
        f"| machine | {info.get('cpu')}, {info.get('cores')} cores, {info.get('platform')} |",
        f"| Python | {info.get('python')} |",
        f"| sections | {sections} ({took:.0f} s) |",
        *(
            f"| later run | {', '.join(x.get('sections', []))}: commit `{x.get('commit')}`, {x.get('when')} |"
            for x in results.get("later", [])
        ),
        "",
        "| what | result | goal |",
        "| --- | --- | --- |",
    ]
    for row in results["rows"]:
        goal = row.get("goal")
        mark = "" if goal is None else f"{goal} ({'met' if row.get('met') else '**missed**'})"
        lines.append(f"| {row['what']} | {row['result']} | {mark} |")
    return "\n".join(lines) + "\n"


def write(results: dict[str, Any], out: Path = DOC, command: str = ".venv/bin/python bench/run.py") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(results, command))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", type=Path, default=RESULTS, help="the figures of a run of bench/run.py")
    p.add_argument("--out", type=Path, default=DOC, help="the page to write")
    args = p.parse_args()
    write(json.loads(args.json.read_text()), args.out)
    print(f"{args.out} written from {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
