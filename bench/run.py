"""warnd benchmarks: one command, a markdown table on stdout and every figure as JSON.

    .venv/bin/python bench/run.py                  # everything, about 25 minutes on 2 cores
    .venv/bin/python bench/run.py --only dispatch  # one section (names below)
    .venv/bin/python bench/run.py --only path --json /tmp/before.json  # figures kept apart

Sections: parse, match, storm, ingest (with the HTTP endpoint over the state it leaves),
dispatch, feed-to-post, path (the text post's path stage by stage, from marks the daemon writes
when bench/probe is on its path), detection, hedged (a group of documents under a host's budget),
rest, shipped (config/warnd.yaml as it is), alertmanager, maps (warning map images), imports
(each library's memory and time at import), growth (ingest time and memory against regions,
rules, accounts and gauge readings; plotted to docs/growth.png with the bench extra:
pip install -e '.[bench]'). A run of some sections replaces their figures in
the JSON and keeps the others' (the page names the later run beside the full one). Figures
sent elsewhere with --json leave docs/performance.md as it is (unless --doc names a page), and
their growth plot goes beside that JSON.
Nothing here is part of the tests; the goals are printed beside the figures, never asserted. The
Alertmanager section needs Debian's prometheus-alertmanager (apt-get install
prometheus-alertmanager) and says so if it is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import alertmanager, daemon, dispatch, growth, hedged, imports, maps, micro, performance_doc  # noqa: E402
from bench.common import Row, machine  # noqa: E402
from warnd.obs import setup_logging  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
SECTIONS = [
    "parse",
    "match",
    "storm",
    "ingest",
    "dispatch",
    "feed-to-post",
    "path",
    "detection",
    "hedged",
    "rest",
    "shipped",
    "alertmanager",
    "maps",
    "console",
    "imports",
    "growth",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    p.add_argument("--json", type=Path, default=RESULTS, help="where to write the figures")
    p.add_argument(
        "--doc",
        type=Path,
        default=None,
        help="the page written from the figures (default: docs/performance.md when the figures go to"
        " bench/results.json, none otherwise)",
    )
    args = p.parse_args()
    # Figures written elsewhere (a before-and-after pair, a trial) leave the project's page and
    # plot as they are: they describe bench/results.json, and a page written from a scratch
    # file is easily committed by mistake.
    ours = args.json.resolve() == RESULTS.resolve()
    doc: Path | None = args.doc or (performance_doc.DOC if ours else None)
    if not ours:
        growth.PLOT = args.json.with_name(args.json.stem + "-growth.png")
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        p.error(f"unknown sections {unknown}; choose from {SECTIONS}")
    setup_logging("warning")
    rows: list[Row] = []
    took: dict[str, float] = {}
    started = time.perf_counter()
    f2p: list[Row] = []
    hooks: list[Row] = []
    for section in SECTIONS:
        if section not in only:
            continue
        t0 = time.perf_counter()
        print(f"... {section}", file=sys.stderr, flush=True)
        if section == "parse":
            got = micro.parsing()
        elif section == "match":
            got = micro.matching()
        elif section == "storm":
            got = micro.gauge_storm()
        elif section == "ingest":
            got = micro.ingest_and_endpoint()
        elif section == "dispatch":
            hooks = dispatch.webhooks()
            got = hooks + dispatch.x_posts()
        elif section == "feed-to-post":
            f2p = daemon.feed_to_post() + daemon.feed_to_post(n_quakes=100, text_first=True)
            got = f2p
        elif section == "path":
            got = daemon.path()
        elif section == "detection":
            got = daemon.detection()
        elif section == "hedged":
            got = hedged.hedged()
        elif section == "rest":
            got = daemon.at_rest()
        elif section == "shipped":
            got = daemon.shipped()
        elif section == "maps":
            got = maps.maps()
        elif section == "console":
            got = daemon.console_stream()
        elif section == "imports":
            got = imports.imports()
        elif section == "growth":
            got = growth.growth()
        else:
            got = alertmanager.side_by_side(*_ours(f2p, hooks))
        rows.extend(got)
        took[section] = time.perf_counter() - t0
    total = time.perf_counter() - started
    info = machine()
    print(
        f"warnd bench: {info['python']}, {info['platform']}, {info['cpu']}, {info['cores']} cores,"
        f" commit {info['commit']}, {total:.0f} s\n"
    )
    print("| what | result | goal |\n| --- | --- | --- |")
    for r in rows:
        mark = "" if r.goal is None else f"{r.goal} {'(met)' if r.met else '(missed)'}"
        print(f"| {r.what} | {r.result} | {mark} |")
    results: dict[str, Any] = {"machine": info, "seconds": took, "rows": [asdict(r) for r in rows]}
    if set(only) != set(SECTIONS) and args.json.exists():
        results = merge(json.loads(args.json.read_text()), results, only)
    args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"\nfigures written to {args.json}", file=sys.stderr)
    if doc is not None:
        performance_doc.write(json.loads(json.dumps(results, default=str)), doc)
        print(f"{doc} written", file=sys.stderr)
    return 0


def merge(stored: dict[str, Any], new: dict[str, Any], only: list[str]) -> dict[str, Any]:
    """The stored figures with those of the sections just run in their place (where the stored
    run had them, else at the end): a run of one section must not leave the others with
    nothing. The stored run stays the page's run; the later one is named with the sections it
    measured, so that no figure passes for another run's."""
    # A section's rows may carry names of their own ("rest" writes "at rest" and "startup").
    replaced = set(only) | {r["section"] for r in new["rows"]}
    rows: list[dict[str, Any]] = []
    placed = False
    for row in stored.get("rows", []):
        if row.get("section") in replaced:
            if not placed:
                rows += new["rows"]
                placed = True
            continue
        rows.append(row)
    if not placed:
        rows += new["rows"]
    later = [x for x in stored.get("later", []) if not set(x.get("sections", [])) <= set(only)]
    later.append({**new["machine"], "sections": only})
    seconds = {**stored.get("seconds", {}), **new["seconds"]}
    return {"machine": stored.get("machine", new["machine"]), "seconds": seconds, "rows": rows, "later": later}


def _ours(f2p: list[Row], hooks: list[Row]) -> tuple[float | None, float | None, float | None]:
    """warnd's own figures from this run, for the ratios against Alertmanager."""
    # The daemon's own path: the run where the text post waits for no map.
    first = next((r for r in f2p if r.what.startswith("quake (text first") and "first post" in r.what), None)
    hook = next((r for r in f2p if r.what.startswith("quake (text first") and "partner webhook" in r.what), None)
    three = next((r for r in hooks if r.figures.get("targets") == 3), None)
    return (
        first.figures["x"].get("p99") if first else None,
        hook.figures["webhook"].get("p99") if hook else None,
        three.figures["deliveries_per_s"] if three else None,
    )


if __name__ == "__main__":
    raise SystemExit(main())
