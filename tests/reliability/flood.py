"""The endpoint flooded: idle connections and slow-header clients against both listeners while
quakes arrive, compared with a quiet run of the same quakes.

The clients run in a process of their own (`python -m tests.reliability.flood`), so that their
work does not slow the fake X, feed server and partner sink of the test process and pass for the
daemon's delay. Each idle client connects and sends nothing; each slow client sends a request
head a kilobyte at a time and never finishes it (a megabyte if it were let). Closed, either
client connects again after a short pause, so the pressure lasts the whole spell.

The daemon gets the descriptor limit the shipped unit gives it (LimitNOFILE=), not the test's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.reliability.campaign import Outcome, Scenario, _settle, scenario
from warnd.testing.daemon import wait_for

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "warnd.service"
PAUSE = 0.5  # before a closed client connects again
CHUNK = 1000  # bytes of one header line a slow client sends at a time
DRIBBLE = 0.25  # seconds between them
HEAD_MAX = 1_000_000
MAX_RATIO = 2.0  # flooded median post latency over the quiet run's
# Far above the daemon's measured 130-175 MB, far below the unit's MemoryHigh (512M): what a
# flood may add is the capped connections' buffers, never a megabyte per client.
RSS_BOUND_MB = 300


def unit_nofile() -> int:
    m = re.search(r"^LimitNOFILE=(\d+)", UNIT.read_text(), re.M)
    assert m, f"{UNIT} sets no LimitNOFILE="
    return int(m.group(1))


def raise_own_nofile() -> int:
    """The soft descriptor limit up to the hard one, so this process can hold its clients."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- the clients ----------------------------------------------------------------------------------


class Clients:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.stats: Counter[str] = Counter()
        self.open = 0

    def _opened(self) -> None:
        self.open += 1
        self.stats["peak_open"] = max(self.stats["peak_open"], self.open)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    async def _connect(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        self._opened()
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), max(self.left(), 0.1))
        except (OSError, TimeoutError):
            self.open -= 1
            self.stats["connect_failed"] += 1
            return None

    async def idle(self, host: str, port: int) -> None:
        while self.left() > 0:
            conn = await self._connect(host, port)
            if conn is None:
                await asyncio.sleep(PAUSE)
                continue
            reader, writer = conn
            self.stats["idle_connected"] += 1
            try:
                await asyncio.wait_for(reader.read(1), max(self.left(), 0.01))
                self.stats["idle_closed_by_server"] += 1
            except TimeoutError:
                self.stats["idle_held_to_the_end"] += 1
            except OSError:
                self.stats["idle_closed_by_server"] += 1
            finally:
                writer.transport.abort()
                self.open -= 1
            await asyncio.sleep(PAUSE)

    async def slow(self, host: str, port: int, n: int) -> None:
        while self.left() > 0:
            conn = await self._connect(host, port)
            if conn is None:
                await asyncio.sleep(PAUSE)
                continue
            reader, writer = conn
            self.stats["slow_connected"] += 1
            sent = 0
            try:
                writer.write(b"GET /cap/ HTTP/1.1\r\nHost: flood\r\n")
                while sent < HEAD_MAX and self.left() > 0:
                    writer.write(b"X-Pad-%d-%d: %s\r\n" % (n, sent, b"a" * (CHUNK - 20)))
                    await writer.drain()
                    sent += CHUNK
                    self.stats["slow_bytes"] += CHUNK
                    try:
                        first = await asyncio.wait_for(reader.read(12), DRIBBLE)
                    except TimeoutError:
                        continue
                    self.stats["slow_answered_4xx" if first.startswith(b"HTTP/1.1 4") else "slow_closed"] += 1
                    break
            except OSError:
                self.stats["slow_closed"] += 1
            finally:
                writer.transport.abort()
                self.open -= 1
            await asyncio.sleep(PAUSE)


async def attack(targets: list[tuple[str, int]], idle: int, slow: int, seconds: float) -> dict[str, int]:
    clients = Clients(time.monotonic() + seconds)
    tasks = [clients.idle(*targets[i % len(targets)]) for i in range(idle)]
    tasks += [clients.slow(*targets[i % len(targets)], i) for i in range(slow)]
    print("started", flush=True)
    await asyncio.gather(*tasks)
    return dict(clients.stats)


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m tests.reliability.flood")
    p.add_argument("--targets", required=True, help="host:port,host:port")
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--slow", type=int, default=250)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    limit = raise_own_nofile()
    if limit < args.idle + args.slow + 100:
        print(f"the descriptor limit here is {limit}: too few for {args.idle + args.slow} clients", file=sys.stderr)
        return 2
    targets = [(h, int(port)) for h, _, port in (t.rpartition(":") for t in args.targets.split(","))]
    stats = asyncio.run(attack(targets, args.idle, args.slow, args.seconds))
    args.out.write_text(json.dumps(stats | {"nofile": limit}))
    return 0


# --- the campaign ---------------------------------------------------------------------------------


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _latencies(s: Scenario) -> list[float]:
    """Seconds from a quake's first appearance in the feed to its post at the fake X."""
    first: dict[int, float] = {}
    for post in list(s.x.state.posts):
        m = re.search(r"uji (\d+)", post.text)
        if post.reply_to is None and m:
            i = int(m.group(1))
            first[i] = min(first.get(i, post.at), post.at)
    return [first[i] - s.replay.published[i] for i in sorted(first) if i in s.replay.published]


def _run(folder: Path, events: int, seconds: float, clients: tuple[int, int] | None) -> dict[str, Any]:
    out = Outcome("run", "")
    with scenario(
        folder, events=events, step=1, every=seconds / events, config_extra="public_listen: 127.0.0.1:0\n"
    ) as s:
        d = s.daemon()
        nofile = unit_nofile()
        # What systemd would give it: the unit's limit, soft and hard.
        resource.prlimit(d.proc.pid, resource.RLIMIT_NOFILE, (nofile, nofile))
        attacker: subprocess.Popen[str] | None = None
        stats_file = folder / "clients.json"
        rss: list[float] = []
        fds: list[int] = []
        try:
            d.ready(60)
            state = folder / "state"
            targets = [(state / name).read_text().strip() for name in ("listen", "public_listen")]
            lines_before = len(d.log.read_text().splitlines())
            if clients is not None:
                attacker = subprocess.Popen(
                    [sys.executable, "-m", "tests.reliability.flood", "--targets", ",".join(targets),
                     "--idle", str(clients[0]), "--slow", str(clients[1]), "--seconds", str(seconds + 4),
                     "--out", str(stats_file)],
                    cwd=ROOT, stdout=subprocess.PIPE, text=True,
                )  # fmt: skip
                assert attacker.stdout is not None
                assert attacker.stdout.readline().strip() == "started"
                time.sleep(2.0)  # the clients are connected and refused before the first quake
            s.replay.start()
            while not s.replay.done() or (attacker is not None and attacker.poll() is None):
                rss.append(d.rss_mb())
                fds.append(_fds(d.proc.pid))
                time.sleep(0.25)
            wait_for(s.complete, 60, "every warning delivered")
            out.crashes += 0 if d.proc.poll() is None else 1
        finally:
            if attacker is not None and attacker.poll() is None:
                attacker.kill()
                attacker.wait()
            _settle(out, s, d)
        lines = d.log_lines()
        text = d.log.read_text()
        latencies = _latencies(s)
    return {
        "outcome": out,
        "latencies": latencies,
        "median": statistics.median(latencies) if latencies else float("inf"),
        "p95": sorted(latencies)[int(0.95 * (len(latencies) - 1))] if latencies else float("inf"),
        "rss": rss,
        "fds": fds,
        "nofile": nofile,
        "feed_errors": [str(ln["error"]) for ln in lines if str(ln.get("event")).startswith("feed.") and "error" in ln],
        "emfile": text.count("Too many open files"),
        "asyncio_accept_lines": text.count("socket.accept() out of system resource"),
        "spell_lines": Counter(str(ln.get("event")) for ln in lines if str(ln.get("event")).startswith("http.")),
        "log_lines": len(text.splitlines()) - lines_before,
        "clients": json.loads(stats_file.read_text()) if stats_file.exists() else {},
    }  # fmt: skip


def flood(folder: Path, events: int = 60, seconds: float = 30.0, idle: int = 1000, slow: int = 250) -> Outcome:
    """The same `events` quakes over `seconds`, once quiet and once with `idle` idle and `slow`
    slow-header clients on both listeners; nothing lost, nothing repeated, no poll failed, the
    median post latency within twice the quiet run's, memory and log bounded."""
    raise_own_nofile()
    started = time.monotonic()
    out = Outcome("flood: endpoint", f"{idle} idle + {slow} slow-header clients, {seconds:g} s")
    quiet = _run(folder / "quiet", events, seconds, None)
    loud = _run(folder / "flood", events, seconds, (idle, slow))
    for run in (quiet, loud):
        o = run["outcome"]
        out.expected += o.expected
        out.delivered += o.delivered
        out.lost += o.lost
        out.duplicated += o.duplicated
        out.crashes += o.crashes
    ratio = loud["median"] / quiet["median"]
    c = loud["clients"]
    out.notes.append(
        f"post latency median {quiet['median']:.2f} s quiet, {loud['median']:.2f} s flooded (x{ratio:.2f});"
        f" p95 {quiet['p95']:.2f} / {loud['p95']:.2f} s"
    )
    out.notes.append(f"{len(loud['feed_errors'])} failed polls")
    out.notes.append(f"RSS {max(quiet['rss']):.0f} MB quiet, {max(loud['rss']):.0f} MB flooded")
    out.notes.append(f"descriptors at most {max(loud['fds'])} of {loud['nofile']}")
    out.notes.append(
        f"{c.get('idle_connected', 0) + c.get('slow_connected', 0)} connections, "
        f"{c.get('peak_open', 0)} open at once; {loud['log_lines']} log lines"
    )
    out.seconds = time.monotonic() - started
    failed = [
        what
        for what, bad in (
            ("a warning lost, repeated or late", out.lost or out.duplicated or out.crashes),
            ("post latency over twice the quiet run's", ratio > MAX_RATIO),
            ("a poll failed", loud["feed_errors"] or loud["emfile"]),
            (f"RSS over {RSS_BOUND_MB} MB", max(loud["rss"]) > RSS_BOUND_MB),
            ("descriptors over a quarter of the limit", max(loud["fds"]) >= loud["nofile"] // 4),
            ("asyncio's per-accept lines in the log", loud["asyncio_accept_lines"]),
        )
        if bad
    ]
    out.notes.append("verdict: " + ("; ".join(failed) if failed else "held"))
    out.extra = {"quiet": quiet, "flood": loud, "ratio": ratio, "failed": failed}
    return out


if __name__ == "__main__":
    raise SystemExit(main())
