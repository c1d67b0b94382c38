"""Another process holds the state database's write lock (a backup, an operator's `sqlite3`
shell): the daemon stays responsive, and once the lock goes nothing is lost or posted twice."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import DOMPU, SUMEDANG, wait_for
from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.testing.daemon import DaemonProcess
from warnd.testing.fake_x import FakeX

pytestmark = [pytest.mark.acceptance, pytest.mark.serial]

HELD = 10.0
# The daemon is asked to ping every 0.5 s (half of WATCHDOG_USEC).
WATCHDOG_USEC = "1000000"
# A gap this long between pings is a loop that stopped; systemd would restart it at WATCHDOG_USEC.
WATCHDOG_GAP = 2.5
# Each /healthz is answered within this, or the request fails the test.
ANSWER_WITHIN = 2.0


@dataclass
class Held:
    """What the daemon did while another process held the lock."""

    answers: list[str]
    gaps: list[float]
    polls: int


def test_a_held_write_lock_stalls_neither_endpoint_nor_watchdog_nor_polls_and_loses_nothing(
    tmp_path: Path, feed_server, fake_x_for: Callable[[list[str]], FakeX]
) -> None:
    fake_x = fake_x_for(["jabar", "ntb"])
    d, cfg = _start(tmp_path, feed_server, fake_x)
    try:
        held = _hold_lock(tmp_path, feed_server, d)
        # Every request was answered within ANSWER_WITHIN (a slower one raises in _hold_lock).
        assert len(held.answers) >= HELD / (0.25 + ANSWER_WITHIN), held.answers
        longest = max(held.gaps)
        assert longest < WATCHDOG_GAP, f"the watchdog ping stopped for {longest:.1f} s while the lock was held"
        # Polls go on (the second feed's new document waits for the lock; the first feed's
        # polls find nothing new): at 0.2 s intervals two feeds are polled about 100 times.
        assert held.polls >= HELD, f"{held.polls} polls while the lock was held"

        # Once the lock is gone: the quake that came meanwhile is posted, once; nothing twice.
        wait_for(lambda: fake_x.posts_by("ntb"), timeout=30, what="the Dompu warning on X")
        wait_for(
            lambda: all(x["state"] == "sent" for w in history(cfg) for x in w["deliveries"]),
            timeout=30,
            what="every delivery sent",
        )
        # A long warning goes out as a thread: one warning, several posts, none of them twice.
        for account in ("jabar", "ntb"):
            texts = [p.text for p in fake_x.posts_by(account)]
            assert len(texts) == len(set(texts)), texts
        warnings = [(w["account"], w["event_id"]) for w in history(cfg)]
        assert sorted(warnings) == [("jabar", "bmkg-eq-20240110T131726Z"), ("ntb", "bmkg-eq-20211005T110027Z")]
        assert d.stop() == 0
    finally:
        d.kill()


def _start(tmp_path: Path, feed_server, fake_x: FakeX) -> tuple[DaemonProcess, Path]:
    """Two feeds, two X accounts; returns once the Sumedang warning is on X."""
    first = feed_server.serve("/autogempa.json", SUMEDANG)
    other = feed_server.serve("/other.json", SUMEDANG)
    feeds = "".join(
        f"  - id: {name}\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
        for name, url in (("autogempa", first), ("other", other))
    )
    accounts = (
        '\n  jabar: {channel: x, name: "Jawa Barat", credential: x-jabar, regions: ["32"]}'
        '\n  ntb: {channel: x, name: "NTB", credential: x-ntb, regions: ["52"]}'
    )
    extra = f"x:\n  api_base: {fake_x.base}\n  read_timeout: 5\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES_ANY_QUAKE, accounts=accounts, extra=extra, replay=True)
    d = DaemonProcess(cfg, {"WATCHDOG_USEC": WATCHDOG_USEC})
    d.ready()
    wait_for(lambda: fake_x.posts_by("jabar"), what="the Sumedang warning on X")
    return d, cfg


def _hold_lock(tmp_path: Path, feed_server, d: DaemonProcess) -> Held:
    """Hold the write lock for HELD seconds, asking /healthz all along, while a new quake
    arrives on the second feed."""
    listen = wait_for(lambda: _read(tmp_path / "state" / "listen"), what="the endpoint address")
    paths = ("/autogempa.json", "/other.json")
    lock = sqlite3.connect(tmp_path / "state" / "warnd.db", isolation_level=None, timeout=30)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        feed_server.serve("/other.json", DOMPU)
        hits_before = sum(len(feed_server.hits(p)) for p in paths)
        start = time.monotonic()
        answers = []
        with httpx.Client(trust_env=False, timeout=ANSWER_WITHIN) as client:
            while time.monotonic() - start < HELD:
                # A request not answered within ANSWER_WITHIN raises: the endpoint stalled.
                answers.append(client.get(f"http://{listen}/healthz").json()["status"])
                time.sleep(0.25)
        end = time.monotonic()
        polls = sum(len(feed_server.hits(p)) for p in paths) - hits_before
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    pings = [t for t, _ in d.notify.lines("WATCHDOG=1") if start <= t <= end]
    gaps = [b - a for a, b in zip([start, *pings], [*pings, end], strict=True)]
    return Held(answers, gaps, polls)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
