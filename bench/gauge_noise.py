"""How many posts a month of real gauge readings makes, per gate and kind: the April 2019 Jakarta
export (hundreds of band crossings, tidal and manual gates flapping) replayed through ledger,
rules and lifecycle with the starter configuration, the clock stepping every 30 minutes.

    .venv/bin/python bench/gauge_noise.py [--every 30m] [--json]

Replaying the whole file at every step would read 31,000 rows 1,440 times; each step reads only
what the parser looks at for each gate (its two newest reading times at or before the clock),
which gives it the same events.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from warnd.clock import FixedClock  # noqa: E402
from warnd.model import Source  # noqa: E402
from warnd.obs import setup_logging  # noqa: E402
from warnd.pollers import jakarta_csv  # noqa: E402
from warnd.pollers.common import WIB  # noqa: E402
from warnd.runtime.build import build  # noqa: E402
from warnd.runtime.ingest import Ingest  # noqa: E402
from warnd.store import db  # noqa: E402

APRIL = ROOT / "feeds/samples/gauges/jakarta-opendata_tinggi-muka-air_2019-04_commonlabs.csv"
CONFIG = ROOT / "config/warnd.yaml"
FEED = "drill-jakarta-2019-04"


def _reading_time(row: dict[str, str]) -> datetime:
    local = datetime.strptime(row["tanggal"], "%Y-%m-%d %H:%M:%S")
    return local.replace(tzinfo=WIB).astimezone(UTC)


def replay(every: timedelta) -> Counter[tuple[str, str]]:
    """Posts per (gate, kind) over the month."""
    text = APRIL.read_text()
    header, *lines = text.splitlines(keepends=True)
    rows = list(csv.DictReader(io.StringIO(text)))
    # Per gate: reading time -> the lines carrying it, in file order.
    by_gate: dict[str, dict[datetime, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row, line in zip(rows, lines, strict=True):
        by_gate[" ".join(row["nama_pintu_air"].split())][_reading_time(row)].append(line)
    first = min(t for series in by_gate.values() for t in series)
    last = max(t for series in by_gate.values() for t in series)

    bundle = build(CONFIG, with_senders=False)
    conn = db.connect(Path(":memory:"))
    clock = FixedClock(first)
    ingest = Ingest(conn, clock, lambda: bundle)
    posts: Counter[tuple[str, str]] = Counter()
    now = first
    while now <= last + every:
        clock.set(now)
        doc = [header]
        for series in by_gate.values():
            times = sorted(t for t in series if t <= now)[-2:]
            doc += [line for t in times for line in series[t]]
        result = jakarta_csv.parse("".join(doc).encode(), Source(FEED, now))
        for w in ingest.handle(FEED, result).warnings:
            posts[(w.event_id.removeprefix("gauge-jakarta-"), w.kind.value)] += 1
        now += every
    conn.close()
    return posts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--every", type=int, default=30, help="clock step in minutes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    setup_logging("error", json=False)
    posts = replay(timedelta(minutes=args.every))
    gates = sorted({g for g, _ in posts})
    kinds = sorted({k for _, k in posts})
    if args.json:
        print(json.dumps({g: {k: posts[(g, k)] for k in kinds if posts[(g, k)]} for g in gates}))
        return
    print("| gate | " + " | ".join(kinds) + " | total |")
    print("|---|" + "---|" * (len(kinds) + 1))
    for g in gates:
        counts = [posts[(g, k)] for k in kinds]
        print(f"| {g} | " + " | ".join(map(str, counts)) + f" | {sum(counts)} |")
    totals = [sum(posts[(g, k)] for g in gates) for k in kinds]
    print("| all | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |")


if __name__ == "__main__":
    main()
