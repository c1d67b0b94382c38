"""Fault campaigns against the real daemon: each one builds a scenario on loopback servers (a feed
server, a fake X, a partner sink), attacks it, and counts what arrived where it should.

Counting is done at the receivers, never from warnd's own records: a warning is lost when its
post is missing at the fake X or its webhook at the partner sink, duplicated when either shows
it twice. The pytest tests run each campaign at CI size; `python -m tests.reliability --long`
runs them at full size and prints the summary table.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import write_config
from warnd.config.schema import XSettings
from warnd.testing.daemon import DaemonProcess, wait_for
from warnd.testing.fake_x import FakeX
from warnd.testing.feed_server import FeedServer
from warnd.testing.webhook_sink import WebhookSink


@dataclass
class Outcome:
    campaign: str
    attacks: str
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    crashes: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    # What a test checks beyond the counts (health seen, memory samples, drain order, ...).
    extra: dict[str, Any] = field(default_factory=dict)
    # The backlog's drain after the recovery the campaign is about (None: not measured).
    drained: Drain | None = None

    def row(self) -> list[str]:
        return [
            self.campaign,
            self.attacks,
            f"{self.delivered}/{self.expected}",
            str(self.lost),
            str(self.duplicated),
            str(self.crashes),
            f"{self.seconds:.0f} s",
            self.drained.cell() if self.drained else "",
            "; ".join(self.notes),
        ]


HEADER = ["campaign", "attacks", "delivered", "lost", "duplicated", "crashes", "took", "drain after recovery", "notes"]


# --- the scenario: quakes in five provinces, five X accounts, two partners ------------------------

# A point well inside each province (>= 30 km from any other), so each quake belongs to one account.
PROVINCES = {
    "aceh": ("11", 96.85, 4.45),
    "jabar": ("32", 107.60, -6.95),
    "ntb": ("52", 116.35, -8.60),
    "sulteng": ("72", 121.20, -1.40),
    "maluku": ("81", 129.40, -3.25),
}
ACCOUNTS = list(PROVINCES)
# The radio takes every account as JSON, the TV two of them as CAP.
PARTNERS = {"radio": ACCOUNTS, "tv": ["jabar", "ntb"]}
TOKEN = re.compile(r"uji (\d+)")


def rule(rule_id: str, magnitude: str, priority: str) -> str:
    """One quake rule, for every account whose regions lie within 10 km of the epicentre."""
    return f"""  - id: {rule_id}
    match:
      hazard: earthquake
      magnitude: {magnitude}
    where:
      within_km: 10
    then:
      accounts: ["*"]
      template: earthquake
      priority: {priority}
"""


RULES = "rules:\n" + rule("gempa-uji", '">= 4.0"', "high")


def account_of(i: int) -> str:
    return ACCOUNTS[i % len(ACCOUNTS)]


def quake(i: int, at_ms: int) -> dict[str, Any]:
    name = account_of(i)
    _, lon, lat = PROVINCES[name]
    eid = f"uji{i:05d}"
    mag = 4.5 + (i % 10) / 10
    return {
        "type": "Feature",
        "id": eid,
        "geometry": {"type": "Point", "coordinates": [lon + (i % 7) * 0.001, lat, 10.0]},
        "properties": {
            "mag": mag,
            "place": f"uji {i}",
            "time": at_ms,
            "updated": at_ms,
            "status": "reviewed",
            "tsunami": 0,
            "net": "us",
            "code": eid,
            "ids": f",{eid},",
            "type": "earthquake",
            "title": f"M {mag:.1f} - uji {i}",
            "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/{eid}",
        },
    }


class Replay:
    """Publishes `total` quakes into the feed, `step` more every `every` seconds, on a thread;
    the feed always holds every quake published so far, as USGS's hourly feed does."""

    def __init__(self, server: FeedServer, total: int, step: int, every: float) -> None:
        self.server = server
        self.total = total
        self.step = step
        self.every = every
        self.features: list[dict[str, Any]] = []
        # Wall-clock time each quake was first in the feed, for latencies measured at the receivers.
        self.published: dict[int, float] = {}
        # Origin times 5 s apart: two quakes 3 s and 0.3 degrees apart are one quake to the ledger.
        self.origin_ms = int(time.time() * 1000) - total * 5000
        self.url = server.serve("/usgs.geojson", self._doc())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _doc(self) -> bytes:
        now = int(time.time() * 1000)
        return json.dumps(
            {"type": "FeatureCollection", "metadata": {"generated": now}, "features": self.features[::-1]}
        ).encode()

    def _run(self) -> None:
        while len(self.features) < self.total and not self._stop.is_set():
            n = len(self.features)
            self.features += [quake(i, self.origin_ms + i * 5000) for i in range(n, min(n + self.step, self.total))]
            self.server.serve("/usgs.geojson", self._doc())
            now = time.time()
            self.published.update((i, now) for i in range(n, len(self.features)))
            self._stop.wait(self.every)

    def start(self) -> None:
        self._thread.start()

    def republish(self) -> None:
        """The same quakes in a fresh document (a new `generated` time), as a feed coming back."""
        self.server.serve("/usgs.geojson", self._doc())

    def done(self) -> bool:
        return len(self.features) >= self.total

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


@dataclass
class Scenario:
    folder: Path
    cfg: Path
    env: dict[str, str]
    feed: FeedServer
    x: FakeX
    sink: WebhookSink
    replay: Replay

    def daemon(self) -> DaemonProcess:
        return DaemonProcess(self.cfg, self.env)

    # --- counting at the receivers ------------------------------------------------------------
    def x_tokens(self) -> dict[str, Counter[int]]:
        """Quake numbers seen at the fake X, per account (a thread counts once, by its head)."""
        out: dict[str, Counter[int]] = {a: Counter() for a in ACCOUNTS}
        for p in list(self.x.state.posts):
            if p.reply_to is None and (m := TOKEN.search(p.text)):
                out[p.user][int(m.group(1))] += 1
        return out

    def sink_tokens(self) -> dict[str, Counter[int]]:
        out: dict[str, Counter[int]] = {p: Counter() for p in PARTNERS}
        for partner in PARTNERS:
            for r in self.sink.receipts(partner):
                m = TOKEN.search(r.body.decode("utf-8", "replace"))
                if m:
                    out[partner][int(m.group(1))] += 1
        return out

    def expected(self) -> int:
        n = self.replay.total
        return n + sum(sum(1 for i in range(n) if account_of(i) in accts) for accts in PARTNERS.values())

    def tally(self) -> tuple[int, int, int]:
        """(delivered, lost, duplicated) over every expected post and webhook."""
        n = self.replay.total
        delivered = lost = dup = 0
        x = self.x_tokens()
        sink = self.sink_tokens()
        for i in range(n):
            wanted: list[Counter[int]] = [x[account_of(i)]]
            wanted += [sink[p] for p, accts in PARTNERS.items() if account_of(i) in accts]
            for seen in wanted:
                c = seen[i]
                delivered += min(c, 1)
                lost += c == 0
                dup += max(c - 1, 0)
        # A post at an account that should not have it is a duplicate in the wrong place.
        for name, seen in x.items():
            dup += sum(c for i, c in seen.items() if account_of(i) != name)
        return delivered, lost, dup

    def complete(self) -> bool:
        delivered, _, _ = self.tally()
        return self.replay.done() and delivered >= self.expected()


# --- waiting for a backlog, as fast as the receivers and warnd's budgets let it go ---------------

# What paces each account's posts when nothing fails: warnd's own posting budget, left at its
# default by the campaigns (the fake X's limits are far above it). The campaign's quakes are not
# life safety, so they may spend the budget less its reserve.
_BUDGET = XSettings().account_budget
ACCOUNT_POSTS = _BUDGET.posts - _BUDGET.reserve
ACCOUNT_WINDOW = _BUDGET.window
# How long a wait for a backlog tolerates no delivery landing beyond what the budgets explain:
# a lane's retry (the campaigns' retry_max is 2 s), a lease running out (10 s), and a machine
# shared with other work (a poll of hundreds of new quakes, their maps, on 2 loaded cores has
# taken 20 s).
STALL_MARGIN = 60.0


class Progress:
    """The receivers' counts every second, on a thread: (unix time, posts at the fake X,
    webhooks at the sink). Where a drain's time goes, seen from outside warnd."""

    def __init__(self, s: Scenario, every: float = 1.0) -> None:
        self.s = s
        self.every = every
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), len(self.s.x.state.posts), len(self.s.sink.state.processed)))
            self._stop.wait(self.every)

    def __enter__(self) -> Progress:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def timeline(self, since: float, step: float = 10.0) -> str:
        """The counts every `step` seconds from `since`, for a note: "+0s 0/12, +10s 40/60, ..."."""
        out: list[str] = []
        mark = since
        for at, posts, hooks in self.samples:
            if at >= mark:
                out.append(f"+{at - since:.0f}s {posts}/{hooks}")
                mark += step
        return ", ".join(out)


def next_slot(s: Scenario, now: float) -> float:
    """The earliest time a delivery still missing may land, as the receivers see the budgets: 0
    (any time) when a webhook is missing (partners have no budget) or an account that lacks a
    post has room in its window; else when the first post of a full window ages out of it."""
    x = s.x_tokens()
    sink = s.sink_tokens()
    n = s.replay.total
    if any(sink[p][i] == 0 for p, accts in PARTNERS.items() for i in range(n) if account_of(i) in accts):
        return 0.0
    slots: list[float] = []
    for account in ACCOUNTS:
        if all(x[account][i] for i in range(n) if account_of(i) == account):
            continue
        recent = sorted(p.at for p in s.x.posts_by(account) if p.at > now - ACCOUNT_WINDOW)
        if len(recent) < ACCOUNT_POSTS:
            return 0.0
        slots.append(recent[len(recent) - ACCOUNT_POSTS] + ACCOUNT_WINDOW)
    return min(slots, default=0.0)


@dataclass
class Drain:
    """A backlog's drain after a recovery, measured at the receivers."""

    since: float  # the channel's return, or the takeover
    first: float | None  # the first delivery after `since` (unix time)
    last: float | None  # the last delivery
    deliveries: int  # how many landed after `since`
    longest_stall: float  # the longest time with no delivery, while some were missing

    def cell(self) -> str:
        """For the table: seconds from the recovery to the last delivery, and the pace."""
        if self.first is None or self.last is None:
            return "nothing left"
        rate = self.deliveries / max(self.last - self.first, 1e-3)
        return f"{self.last - self.since:.0f} s, {rate:.1f}/s"

    def note(self, what: str) -> str:
        if self.first is None or self.last is None:
            return f"drain after {what}: nothing was left to deliver"
        took = self.last - self.since
        rate = self.deliveries / max(self.last - self.first, 1e-3)
        return (
            f"drain after {what}: {self.deliveries} deliveries, first {self.first - self.since:.1f} s and last"
            f" {took:.0f} s after it, {rate:.1f}/s; longest wait for the next delivery {self.longest_stall:.0f} s"
        )


def arrivals(s: Scenario) -> list[float]:
    """When each delivery the campaign counts arrived: head posts at the fake X, webhooks at the sink."""
    posts = [p.at for p in list(s.x.state.posts) if p.reply_to is None and TOKEN.search(p.text)]
    hooks = [r.at for p in PARTNERS for r in s.sink.receipts(p)]
    return sorted(posts + hooks)


def drain(s: Scenario, since: float, what: str, margin: float = STALL_MARGIN) -> Drain:
    """Wait for every post and webhook for as long as warnd makes progress (`progressing`), and
    measure the drain from `since`."""
    stall = progressing(s, s.complete, what, margin)
    after = [t for t in arrivals(s) if t >= since]
    return Drain(since, after[0] if after else None, after[-1] if after else None, len(after), stall)


def progressing(s: Scenario, done: Callable[[], bool], what: str, margin: float = STALL_MARGIN) -> float:
    """Wait until `done()` for as long as deliveries keep landing: RuntimeError only when none
    lands for longer than the next budget slot allows, plus `margin`. No fixed timeout: a backlog
    of 120 posts on an account with 80 posts per 15 minutes takes 15 minutes, and that is warnd
    keeping its budget, not warnd stuck. Returns the longest wait for a delivery."""
    seen = -1
    changed = time.time()
    stall = 0.0
    while not done():
        now = time.time()
        delivered = s.tally()[0]
        if delivered != seen:
            seen, changed = delivered, now
        quiet = now - changed
        allowed = max(0.0, next_slot(s, now) - changed) + margin
        stall = max(stall, quiet)
        if quiet > allowed:
            raise RuntimeError(
                f"no delivery for {quiet:.0f}s (allowed {allowed:.0f}s by the budgets) waiting for {what}:"
                f" {delivered}/{s.expected()} delivered"
            )
        time.sleep(0.2)
    return stall


@contextlib.contextmanager
def scenario(
    folder: Path,
    *,
    events: int,
    step: int = 10,
    every: float = 0.2,
    x_latency: float = 0.02,
    dispatch: str = "  retry_min: 0.2\n  retry_max: 2\n",
    feed_extra: str = "",
    rules: str = RULES,
    config_extra: str = "",
) -> Iterator[Scenario]:
    folder.mkdir(parents=True, exist_ok=True)
    users = {f"tok-{a}": (f"sec-{a}", a) for a in ACCOUNTS}
    # Limits far above the run's volume: the campaigns are about faults, not rate limits.
    fake = FakeX(
        consumer_key="app-key",
        consumer_secret="app-secret",
        users=users,
        latency=x_latency,
        user_limit=(100_000, 900.0),
        user_day_limit=(100_000, 86400.0),
        app_limit=(1_000_000, 86400.0),
    )
    sink = WebhookSink({p: f"{p}-secret" for p in PARTNERS})
    feed = FeedServer()
    for server in (fake, sink, feed):
        server.start()
    replay = Replay(feed, events, step, every)
    accounts = "".join(
        f'\n  {a}: {{channel: x, name: "{a}", regions: ["{code}"], credential: x-{a}}}'
        for a, (code, _, _) in PROVINCES.items()
    )
    partners = "".join(
        f'\n  {p}: {{name: {p}, url: "{sink.url(p)}", secret: partner-{p}, accounts: {accts}'
        + (", format: cap}" if p == "tv" else "}")
        for p, accts in PARTNERS.items()
    )
    extra = f"""x:
  api_base: {fake.base}
  read_timeout: 5
partners:{partners}
dispatch:
{dispatch}{config_extra}"""
    feeds = f"""  - id: usgs
    format: usgs-geojson
    url: {replay.url}
    interval: 0.3
    timeout: 2
{feed_extra}"""
    cfg = write_config(folder, feeds=feeds, rules=rules, accounts=accounts, extra=extra)
    env = {
        "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
        "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
        **{f"WARND_SECRET_PARTNER_{p.upper()}": f"{p}-secret" for p in PARTNERS},
    }
    for a in ACCOUNTS:
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN"] = f"tok-{a}"
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN_SECRET"] = f"sec-{a}"
    s = Scenario(folder, cfg, env, feed, fake, sink, replay)
    try:
        yield s
    finally:
        replay.stop()
        for server in (fake, sink, feed):
            server.stop()


def _settle(out: Outcome, s: Scenario, d: DaemonProcess) -> None:
    """Stop the daemon (an exit other than 0 is a crash) and count at the receivers."""
    code = d.stop()
    if code != 0:
        out.crashes += 1
        out.notes.append(f"the last stop exited {code}")
    out.expected = s.expected()
    out.delivered, out.lost, out.duplicated = s.tally()


def _store_errors(d: DaemonProcess) -> list[str]:
    """What the daemon logged of the store refusing it: whichever part met the refusal first
    (a poll, the heartbeat, the dispatcher, the health check) says so."""
    return [
        str(ln.get("error"))
        for ln in d.log_lines()
        if ln.get("event") == "store.failed" or str(ln.get("event")).endswith(".store_failed")
    ]


def _logged(d: DaemonProcess, event: str) -> int:
    return sum(1 for ln in d.log_lines() if ln.get("event") == event)


def _unexpected_exits(d: DaemonProcess) -> int:
    """A daemon that died by itself (not by our signal) is a crash."""
    code = d.proc.poll()
    return 0 if code is None else 1


# --- 1. kill -9 at random moments ----------------------------------------------------------------


def kill9(folder: Path, kills: int, events: int = 300, seed: int = 8) -> Outcome:
    """SIGKILL the daemon `kills` times at random moments of the replay (one in three during
    start-up, the others in the work), then let the last one finish: every post and webhook
    exactly once at the receivers."""
    rnd = random.Random(seed)
    out = Outcome("kill -9 mid-replay", f"{kills} kills")
    started = time.monotonic()
    with scenario(folder, events=events) as s:
        s.replay.start()
        killed_with_posts: list[int] = []
        for k in range(kills):
            d = s.daemon()
            if k % 3 == 2:
                # During start-up: opening the store, recovering cut-off attempts, first polls.
                time.sleep(rnd.uniform(0.05, 1.3))
            else:
                # In the work: ingesting, posting, recording.
                d.ready(60)
                time.sleep(rnd.uniform(0.0, 1.5))
            out.crashes += _unexpected_exits(d)
            d.kill()
            killed_with_posts.append(len(s.x.state.posts))
        d = s.daemon()
        try:
            d.ready(60)
            progressing(s, s.complete, "every post and webhook after the last restart")
            # Let anything that would repeat arrive before counting.
            time.sleep(1.0)
            out.crashes += _unexpected_exits(d)
        finally:
            _settle(out, s, d)
        refused = s.x.state.duplicates
        repeats = sum(s.sink.state.repeats.values())
        cut = sum(1 for a, b in zip([0, *killed_with_posts], killed_with_posts, strict=False) if b > a)
        out.notes.append(f"{cut} kills cut into posting")
        out.notes.append(
            f"re-sends after a kill: {refused} refused by X as duplicate content, {repeats} webhook repeats"
        )
    out.seconds = time.monotonic() - started
    return out


# --- 2. outages ---------------------------------------------------------------------------------

# Two priorities, so that the drain order can be checked: M5.0 and up is `high`.
PRIORITY_RULES = (
    "rules:\n" + rule("gempa-kuat", '">= 5.0"', "high") + rule("gempa-lemah", '[">= 4.0", "< 5.0"]', "normal")
)
MAGNITUDE = re.compile(r"Gempa M(\d+\.\d)")
FEED_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("garbage", {"body": b"\x00\xff<html>Bad Gateway</html>" * 50}),
    ("HTTP 500", {"body": b"upstream error", "status": 500}),
    ("hang", {"body": b"", "hang": True}),
    # A changed document (else the server's 304 to the known ETag would answer it at once).
    ("drip", {"drip": 0.5, "etag": False}),
]


def health(s: Scenario) -> dict[str, Any] | None:
    try:
        listen = (s.folder / "state" / "listen").read_text().strip()
        answer = httpx.get(f"http://{listen}/healthz", timeout=2)
        return dict(answer.json())
    except (OSError, ValueError, httpx.HTTPError):
        return None


def outage(folder: Path, events: int = 100, spell: float = 8.0) -> Outcome:
    """X down and one partner flapping for `spell` seconds while quakes arrive, then the feed
    serving garbage, a 500, a hang and a drip; then everything back. Nothing lost or repeated,
    each account's backlog drained most urgent first, memory flat, health degraded then ok."""
    out = Outcome("outages", f"X down {spell:g} s, partner flapping, feed: " + ", ".join(f for f, _ in FEED_FAULTS))
    started = time.monotonic()
    # Retries as in production (2 s doubling to 10 min): the backlog must start draining within
    # probe_every of X's return, not at the end of a lane's backoff.
    dispatch = "  backlog_alarm: 2\n"
    with scenario(
        folder,
        events=events,
        step=20,
        every=0.2,
        dispatch=dispatch,
        feed_extra="    stale_after: 3\n    backoff_max: 1\n",
        rules=PRIORITY_RULES,
    ) as s:
        d = s.daemon()
        try:
            d.ready(60)
            s.x.down = "503-html"
            s.sink.down["tv"] = 503
            flapping = threading.Event()

            def flap() -> None:
                while not flapping.wait(0.4):
                    if "radio" in s.sink.down:
                        s.sink.down.pop("radio", None)
                    else:
                        s.sink.down["radio"] = 500

            flapper = threading.Thread(target=flap, daemon=True)
            flapper.start()
            s.replay.start()
            wait_for(s.replay.done, 60, "the replay")
            # Memory is judged from here: every quake's map drawn (the drawing warms up a few tens
            # of MB once), while the backlog waits for X.
            wait_for(lambda: _logged(d, "map.made") >= events, 120, "every quake's map", every=0.5)
            rss: list[float] = []
            seen: set[str] = set()
            deadline = time.monotonic() + spell
            while time.monotonic() < deadline:
                rss.append(d.rss_mb())
                h = health(s)
                if h:
                    seen.add(h["status"])
                time.sleep(0.25)
            during = s.tally()
            x_during = len(s.x.state.posts)
            # The feed goes bad in four ways, each for long enough to be polled a few times.
            doc = s.feed.routes["/usgs.geojson"].body
            for _, fault in FEED_FAULTS:
                kw = {"body": doc, **fault}
                s.feed.serve("/usgs.geojson", kw.pop("body"), **kw)
                time.sleep(4.0)
                rss.append(d.rss_mb())
            s.replay.republish()
            flapping.set()
            flapper.join(2)
            tried = Counter(a.user for a in list(s.x.state.attempts))
            with Progress(s) as progress:
                s.sink.down.clear()
                s.x.down = None
                returned = time.time()
                drained = drain(s, returned, "the backlog to drain")

            def fresh_and_ok() -> dict[str, Any] | None:
                # The feed counts as stale 3 s after its document last changed (stale_after), and a
                # full-size backlog takes longer than that to drain: the feed publishes again, as a
                # live feed would, and health is judged on it.
                s.replay.republish()
                h = health(s)
                return h if h is not None and h["status"] == "ok" else None

            ok = wait_for(fresh_and_ok, 30, "health ok", every=0.5)
            out.crashes += _unexpected_exits(d)
        finally:
            _settle(out, s, d)
        failed = [ln for ln in d.log_lines() if ln.get("event") == "feed.failed"]
        back = [ln for ln in d.log_lines() if ln.get("event") == "channel.back" and ln.get("platform") == "x-app"]
        reasons = [str(ln.get("error", "")) for ln in failed]
        out.notes.append(f"{during[0]} delivered during the outage (the flapping partner)")
        out.notes.append("health seen: " + ", ".join(sorted(seen)) + f"; {ok['status']} at the end")
        out.notes.append(f"RSS {min(rss):.0f}-{max(rss):.0f} MB")
        out.notes.append(f"{len(failed)} failed polls")
        out.drained = drained
        out.notes.append(drained.note("X and the partners came back"))
        out.notes.append(f"{max(tried.values(), default=0)} requests at most per account while X was down")
        if back:
            out.notes.append(
                f"X answered again after {back[-1]['down_s']} s down: {back[-1]['lanes_released']} lanes released"
            )
        order = drain_order(s)
    out.seconds = time.monotonic() - started
    out.extra = {
        "seen": seen,
        "rss": rss,
        "order": order,
        "feed_errors": reasons,
        "x_during": x_during,
        "drain": drained,
        "tried_while_down": dict(tried),
        "timeline": progress.timeline(returned),
        "back": back,
    }
    return out


def drain_order(s: Scenario) -> dict[str, list[float]]:
    """Per account, the magnitudes of its posts in the order they arrived."""
    out: dict[str, list[float]] = {a: [] for a in ACCOUNTS}
    for p in list(s.x.state.posts):
        m = MAGNITUDE.search(p.text)
        if p.reply_to is None and m:
            out[p.user].append(float(m.group(1)))
    return out


def env_flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


# --- 3. the state directory on a full filesystem --------------------------------------------------


def fill(folder: Path) -> Path:
    """Fill the filesystem holding `folder` to the last byte; returns the ballast file."""
    ballast = folder / "ballast"
    with ballast.open("wb", buffering=0) as f:
        for size in (2**16, 2**10, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    return ballast


@contextlib.contextmanager
def tmpfs(path: Path, size_mb: int) -> Iterator[None]:
    import subprocess

    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs on {path}: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def disk_full(folder: Path, events: int = 60, spell: float = 6.0) -> Outcome:
    """The state directory's filesystem full while quakes arrive: warnd refuses them loudly
    (health failing), keeps what it has, and takes them all once space returns."""
    out = Outcome("disk full", f"state on a full tmpfs for {spell:g} s")
    started = time.monotonic()
    with scenario(folder, events=events, step=10, every=0.2, feed_extra="    stale_after: 60\n") as s:
        with tmpfs(folder / "state", 24):
            d = s.daemon()
            try:
                d.ready(60)
                ballast = fill(folder / "state")
                s.replay.start()
                wait_for(s.replay.done, 60, "the replay")
                seen: set[str] = set()
                deadline = time.monotonic() + spell
                while time.monotonic() < deadline:
                    h = health(s)
                    if h:
                        seen.add(h["status"])
                    time.sleep(0.25)
                during = s.tally()[0]
                alive = d.proc.poll() is None
                ballast.unlink()
                progressing(s, s.complete, "every warning once space returned")
                time.sleep(1.0)
                ok = wait_for(lambda: (h := health(s)) is not None and h["status"] == "ok" and h, 30, "health ok")
                out.crashes += _unexpected_exits(d) + (0 if alive else 1)
            finally:
                _settle(out, s, d)
        errors = _store_errors(d)
        out.notes.append(f"{during} delivered while full, {len(errors)} store failures logged")
        out.notes.append("health seen: " + ", ".join(sorted(seen)) + f"; {ok['status']} at the end")
        out.extra = {"during": during, "errors": errors, "seen": seen}
    out.seconds = time.monotonic() - started
    return out


def locked(folder: Path, events: int = 40, spell: float = 8.0) -> Outcome:
    """Another process holds the state database's write lock (a backup, an sqlite3 shell left
    in a transaction) while quakes arrive: warnd waits, says why, and catches up after."""
    import sqlite3

    out = Outcome("locked store", f"write lock held {spell:g} s by another process")
    started = time.monotonic()
    with scenario(folder, events=events, step=10, every=0.2, feed_extra="    stale_after: 60\n") as s:
        d = s.daemon()
        try:
            d.ready(60)
            holder = sqlite3.connect(folder / "state" / "warnd.db", isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            s.replay.start()
            wait_for(s.replay.done, 60, "the replay")
            time.sleep(spell)
            during = s.tally()[0]
            alive = d.proc.poll() is None
            holder.execute("ROLLBACK")
            holder.close()
            progressing(s, s.complete, "every warning once the lock was released")
            time.sleep(1.0)
            out.crashes += _unexpected_exits(d) + (0 if alive else 1)
        finally:
            _settle(out, s, d)
        errors = _store_errors(d)
        out.notes.append(f"{during} delivered while locked, {len(errors)} store failures logged")
        out.extra = {"during": during, "errors": errors}
    out.seconds = time.monotonic() - started
    return out


# --- 5. the system clock stepping forward and back ------------------------------------------------

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def clock_steps(
    folder: Path, events: int = 120, steps: tuple[str, ...] = ("+2h", "-1h", "+0", "-30m", "+0")
) -> Outcome:
    """The daemon's system clock (libfaketime, re-read every second; the monotonic and boot
    clocks untouched, as in a real step) jumps forward and back while quakes arrive: every post
    and webhook exactly once, as without the steps."""
    if not LIBFAKETIME.exists():
        raise FileNotFoundError(f"{LIBFAKETIME} is missing (Debian package faketime)")
    out = Outcome("clock steps", "system clock " + ", ".join(steps))
    started = time.monotonic()
    stamp = folder / "faketime"
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text("+0\n")
    with scenario(folder, events=events, step=5, every=0.2) as s:
        s.env.update(
            {
                "LD_PRELOAD": str(LIBFAKETIME),
                "FAKETIME_TIMESTAMP_FILE": str(stamp),
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "FAKETIME_CACHE_DURATION": "1",
            }
        )
        d = s.daemon()
        try:
            d.ready(60)
            s.replay.start()
            for offset in steps:
                stamp.write_text(offset + "\n")
                time.sleep(2.5)
            wait_for(s.replay.done, 60, "the replay")
            progressing(s, s.complete, "every post and webhook")
            time.sleep(1.0)
            seen = health(s)
            out.crashes += _unexpected_exits(d)
        finally:
            _settle(out, s, d)
        lines = d.log_lines()
        stepped = [ln for ln in lines if ln.get("event") == "clock.stepped"]
        rejected = len(s.sink.state.rejected)
        out.notes.append(f"{len(stepped)} steps seen by warnd, {rejected} webhook signatures refused")
        out.extra = {
            "steps": [ln.get("step_s") for ln in stepped],
            "health": seen,
            "rejected": rejected,
            "suppressed": [ln for ln in lines if ln.get("event") in ("warning.suppressed", "rule.suppressed")],
        }
    out.seconds = time.monotonic() - started
    return out
