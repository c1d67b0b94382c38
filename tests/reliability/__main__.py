"""The reliability campaigns at full size, with a summary table.

    python -m tests.reliability            # CI sizes (what .ci/run's tests run)
    python -m tests.reliability --long     # 100 kills of 300 quakes, longer outages, 10,000 fuzz examples each
    python -m tests.reliability --only kill9,outage
    python -m tests.reliability --only nodes    # several nodes on PostgreSQL: failover, cut-off
    python -m tests.reliability --only flood    # 1,000 idle + 250 slow-header clients on the endpoint

A run of every campaign writes its table, with the date, commit, machine, sizes and command, to
docs/reliability.md (`--doc PATH` elsewhere, or for a run of some campaigns only).

Needs root for the disk-full campaign (it mounts a tmpfs), Debian's faketime for the clock, and
the machine's PostgreSQL (127.0.0.1:5432, trust, database test) for the several-nodes runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import machine
from tests.reliability import campaign as c
from tests.reliability import nodes
from tests.reliability.flood import flood

ROOT = Path(__file__).resolve().parents[2]


def fuzz(examples: int) -> c.Outcome:
    """Every hypothesis campaign (parsers, detection, the config loader) at `examples` each."""
    out = c.Outcome("fuzz: parsers and config", f"{examples} examples per test")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "0",
         "tests/unit/test_parsers_fuzz.py", "tests/reliability/test_config_fuzz.py",
         "tests/reliability/test_hostile_input.py"],
        cwd=ROOT, env={**os.environ, "WARND_FUZZ_EXAMPLES": str(examples)}, capture_output=True, text=True,
    )  # fmt: skip
    last = (done.stdout.strip().splitlines() or ["no output"])[-1]
    out.crashes = 0 if done.returncode == 0 else 1
    out.notes.append(last)
    out.seconds = time.monotonic() - started
    return out


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.reliability")
    p.add_argument("--long", action="store_true", help="the full campaign")
    p.add_argument("--only", default="", help="comma-separated: kill9,outage,locked,disk,clock,fuzz,nodes,flood")
    p.add_argument(
        "--doc", type=Path, default=None, help="write the table here (default: docs/reliability.md, full runs)"
    )
    args = p.parse_args()
    long = args.long or c.env_flag("WARND_LONG")
    runs: dict[str, Callable[[Path], c.Outcome]] = {
        "kill9": lambda d: c.kill9(d, kills=100 if long else 6, events=300 if long else 120),
        "outage": lambda d: c.outage(d, events=300 if long else 100, spell=60.0 if long else 8.0),
        "locked": lambda d: c.locked(d, events=100 if long else 40, spell=20.0 if long else 12.0),
        "disk": lambda d: c.disk_full(d, events=150 if long else 60, spell=20.0 if long else 6.0),
        "clock": lambda d: c.clock_steps(d, events=300 if long else 120),
        "fuzz": lambda d: fuzz(10_000 if long else 60),
        "nodes2": lambda d: nodes.failover(d, 2, events=600 if long else 150),
        "nodes3": lambda d: nodes.failover(d, 3, events=600 if long else 150),
        "cutoff": lambda d: nodes.cut_off(d, events=300 if long else 90, spell=60.0 if long else 15.0),
        "flood": lambda d: flood(d, events=120 if long else 40, seconds=30.0 if long else 20.0),
    }
    groups = {"nodes": ["nodes2", "nodes3", "cutoff"]}
    wanted = [x for w in args.only.split(",") if w for x in groups.get(w, [w])] or list(runs)
    # The commit and time the campaigns start from, not what the checkout holds when they end.
    info = machine()
    rows: list[c.Outcome] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="warnd-reliability-") as tmp:
        for name in wanted:
            print(f"-- {name} ...", file=sys.stderr, flush=True)
            try:
                out = runs[name](Path(tmp) / name)
            except Exception as e:  # a campaign that cannot finish is a failed row, not a stop
                out = c.Outcome(name, "did not finish", crashes=1, notes=[f"{type(e).__name__}: {e}"[:300]])
            rows.append(out)
            failed |= bool(out.lost or out.duplicated or out.crashes or out.extra.get("failed"))
    table = [f"| {' | '.join(c.HEADER)} |", f"|{'---|' * len(c.HEADER)}"]
    table += [f"| {' | '.join(out.row())} |" for out in rows]
    print("\n".join(table))
    # A partial run's table would pass for the whole campaign's: only a full run takes the default page.
    doc = args.doc or (None if args.only else ROOT / "docs" / "reliability.md")
    if doc is not None:
        command = " ".join(["python -m tests.reliability", *sys.argv[1:]])
        doc.write_text(page(info, table, command, "long" if long else "CI", failed))
        print(f"{doc} written", file=sys.stderr)
    return 1 if failed else 0


def page(info: dict[str, str | int | None], table: list[str], command: str, size: str, failed: bool) -> str:
    """docs/reliability.md: which run, on what, at which sizes, then the table as printed."""
    return "\n".join([
        "# Reliability",
        "",
        "<!-- Written by `python -m tests.reliability`; edits here are overwritten. -->",
        "",
        f"The table of one run of `{command}`, written by the command itself. What each campaign",
        "attacks and what must hold: [development](development.md#reliability-campaigns).",
        "",
        "| run | |",
        "| --- | --- |",
        f"| started | {info['when']} |",
        f"| commit | `{info['commit']}` |",
        f"| machine | {info['cpu']}, {info['cores']} cores, {info['platform']} |",
        f"| Python | {info['python']} |",
        f"| sizes | {size} (`--long` for the full campaign) |",
        f"| verdict | {'**failed**' if failed else 'passed: nothing lost, nothing duplicated, no crash'} |",
        "",
        *table,
        "",
        "\"took\" is the campaign's wall time, start-up included. \"drain after recovery\" is measured at",
        "the receivers: seconds from the platforms' return (outages), the leader's kill (several nodes)",
        "or the connection's cut to the last delivery, and the deliveries per second from the first",
        "delivery after it to the last. A campaign waits for its backlog as long as deliveries keep",
        "landing, and fails when none lands for longer than the next slot of warnd's posting budgets",
        "(80 ordinary posts per account per 15 minutes) allows, plus 60 s: a backlog larger than a",
        "budget drains at the budget's pace. The fuzz row counts tests, not deliveries; its crashes",
        "column is 1 if any test failed. The flood row counts both of its runs (quiet and flooded). A",
        "campaign that could not finish is a row with a crash and its error.",
        "",
        "## Four channels",
        "",
        "The kill -9 and outage campaigns run every account on X, Telegram, Mastodon and Bluesky at",
        "once (`channels:`, each through its fake) besides the two partners, and count at each",
        "receiver, never from warnd's records. On each channel a warning is delivered when its",
        "thread's head (the post naming the quake) arrived and every part its labels (`k/n`) announce",
        "hangs under it by replies; lost otherwise; a part, or a map following its text, that arrived",
        "twice is a duplicate, and so is a post at an account that should not have it. One quake in",
        "ten has a long place, so its warning is a thread on X and Bluesky (and Mastodon), and one in",
        "thirty a Telegram text too long for a photo's caption, its map following as a reply. How",
        "each channel's parts map back to a warning, and what a re-send after a kill meets there:",
        "",
        "| channel | a part belongs to the warning | a re-send after a kill |",
        "| --- | --- | --- |",
        "| X | whose head its replies lead to; a part posted with nothing to reply to (its first"
        " part refused as duplicate content, its id never known) by its headline line"
        " | refused as duplicate content, counted as posted |",
        "| Telegram | whose head its replies lead to (the map: a reply without a label)"
        " | no idempotency key: the part can show twice. A repeat warnd logged"
        " (`telegram.possible_repeat`) is counted in \"Telegram repeats (logged)\", one it did not"
        " log is a duplicate (a failure) |",
        "| Mastodon | whose head its replies lead to | answered with the first status by its"
        " `Idempotency-Key` |",
        "| Bluesky | whose head its replies (reply parent) lead to | refused by its record key,"
        " read back |",
        "| partners | the quake in the webhook's body | the same idempotency key, processed once |",
        "",
        "The outage campaign takes X and Telegram down (an HTML 503 for every request) with the",
        "partners while Mastodon and Bluesky post the first half of the quakes, then brings them back",
        "and takes Mastodon and Bluesky down while X and Telegram post the second half; its notes give",
        "what arrived at the healthy fakes during each spell, the requests the down ones met, and each",
        "backlog's drain (most urgent first, per channel and account). With threads, X's posts",
        "outnumber the warnings: these two campaigns set X's account budget above their volume (as the",
        "fakes' limits and Telegram's budgets are), where the one-channel campaigns keep the default.",
        "",
    ])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
