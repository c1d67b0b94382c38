"""Fault campaigns against the real daemon: each one builds a scenario on loopback servers (a feed
server, a fake X, a partner sink; for kill -9 and the outages also a fake Telegram, Mastodon and
Bluesky, every account publishing on all four), attacks it, and counts what arrived where it
should.

Counting is done at the receivers, never from warnd's own records: a warning is lost when its
post (every part of its thread) is missing at any channel's fake or its webhook at the partner
sink, duplicated when any of them shows it (or a part of it) twice. Telegram has no idempotency
key: a part it shows twice that warnd logged as a possible repeat is counted apart, one it did
not log is a duplicate (`Scenario.count`). The pytest tests run each campaign at CI size;
`python -m tests.reliability --long` runs them at full size and prints the summary table.
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
from warnd.testing._server import LocalServer
from warnd.testing.daemon import DaemonProcess, wait_for
from warnd.testing.fake_bluesky import FakeBluesky
from warnd.testing.fake_mastodon import FakeMastodon
from warnd.testing.fake_telegram import FakeTelegram
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
    # Telegram repeats warnd logged as possible (`telegram.possible_repeat`): not failures,
    # reported apart from `duplicated`, which is every repeat it did not log and any elsewhere.
    repeats: int = 0
    tally: Tally | None = None

    def row(self) -> list[str]:
        return [
            self.campaign,
            self.attacks,
            f"{self.delivered}/{self.expected}",
            str(self.lost),
            str(self.duplicated),
            str(self.repeats),
            str(self.crashes),
            f"{self.seconds:.0f} s",
            self.drained.cell() if self.drained else "",
            "; ".join(self.notes),
        ]


HEADER = [
    "campaign",
    "attacks",
    "delivered",
    "lost",
    "duplicated",
    "Telegram repeats (logged)",
    "crashes",
    "took",
    "drain after recovery",
    "notes",
]


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


# Some quakes come with a long place, so their warnings are threads on the channels that need
# one (X's 280 weighted characters, Bluesky's 300 graphemes, Mastodon's 500) and, the longest,
# a Telegram text too long for a photo's caption, its map following as a reply.
_NEAR = "dekat Desa Sukamaju, Kecamatan Cibeureum, Kabupaten Contoh, di jalur sesar aktif"


def place_of(i: int, threads: bool) -> str:
    if threads and i % 30 == 7:
        return f"uji {i}, " + "; ".join([_NEAR] * 13)
    if threads and i % 10 == 3:
        return f"uji {i}, " + "; ".join([_NEAR] * 3)
    return f"uji {i}"


def quake(i: int, at_ms: int, threads: bool = False) -> dict[str, Any]:
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
            "place": place_of(i, threads),
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

    def __init__(self, server: FeedServer, total: int, step: int, every: float, threads: bool = False) -> None:
        self.server = server
        self.total = total
        self.step = step
        self.every = every
        self.threads = threads
        self.features: list[dict[str, Any]] = []
        # Wall-clock time each quake was first in the feed, for latencies measured at the receivers.
        self.published: dict[int, float] = {}
        # Origin times 5 s apart: two quakes 3 s and 0.3 degrees apart are one quake to the ledger.
        self.origin_ms = int(time.time() * 1000) - total * 5000
        self.url = server.serve("/usgs.geojson", self._doc())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        # How many quakes may be published so far (`release`): a campaign can hold the rest back.
        self.cap = total

    def _doc(self) -> bytes:
        now = int(time.time() * 1000)
        return json.dumps(
            {"type": "FeatureCollection", "metadata": {"generated": now}, "features": self.features[::-1]}
        ).encode()

    def _run(self) -> None:
        while len(self.features) < self.total and not self._stop.is_set():
            n = len(self.features)
            if n >= self.cap:
                self._stop.wait(0.05)
                continue
            self.features += [
                quake(i, self.origin_ms + i * 5000, self.threads) for i in range(n, min(n + self.step, self.cap))
            ]
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

    def release(self, upto: int) -> None:
        """Publish the quakes up to `upto` (the thread holds back the rest)."""
        self.cap = min(upto, self.total)

    def in_feed(self) -> int:
        """How many quakes the feed holds so far."""
        return len(self.features)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)


# X posts per account per 15 minutes (less the reserve) when the warnings come as threads.
THREAD_X_POSTS = 1000
# The channels a campaign's accounts may publish on; each is counted at its own fake.
CHANNELS = ("x", "telegram", "mastodon", "bluesky")
BOT = "warnd_uji_bot"
TG_TOKEN = "7000001:AAH-campaign"
PART = re.compile(r" (\d+)/(\d+)$")
EVENT = re.compile(r"uji(\d{5})")
MAP = "map: "


def chat_of(account: str) -> str:
    return f"@gempa_{account}"


def handle_of(account: str) -> str:
    return f"{account}.bsky.social"


@dataclass(frozen=True)
class Piece:
    """One post, status or message as a channel's readers see it."""

    id: str
    reply_to: str | None
    text: str
    at: float  # unix time it arrived


@dataclass
class Tally:
    """What the receivers show, against what the replay should have made."""

    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    # Telegram repeats warnd logged as possible (`telegram.possible_repeat`): counted, not failed.
    logged_repeats: int = 0
    # Per channel ("x", ..., "partners"): [delivered, lost, duplicated, logged repeats].
    per_channel: dict[str, list[int]] = field(default_factory=dict)

    def add(self, channel: str, delivered: int = 0, lost: int = 0, dup: int = 0, logged: int = 0) -> None:
        row = self.per_channel.setdefault(channel, [0, 0, 0, 0])
        for k, v in enumerate((delivered, lost, dup, logged)):
            row[k] += v
        self.delivered += delivered
        self.lost += lost
        self.duplicated += dup
        self.logged_repeats += logged

    def note(self) -> str:
        cells = []
        for channel, (dl, lost, dup, logged) in self.per_channel.items():
            extra = f" (+{logged} logged as possible)" if channel == "telegram" else ""
            cells.append(f"{channel} {dl} delivered/{lost} lost/{dup} twice{extra}")
        return "; ".join(cells)


@dataclass
class Scenario:
    folder: Path
    cfg: Path
    env: dict[str, str]
    feed: FeedServer
    x: FakeX
    sink: WebhookSink
    replay: Replay
    channels: tuple[str, ...] = ("x",)
    # Posts per account X's budget allows in its window, less the reserve (None: warnd's default).
    x_posts: int | None = None
    telegram: FakeTelegram | None = None
    mastodon: FakeMastodon | None = None
    bluesky: FakeBluesky | None = None

    def daemon(self) -> DaemonProcess:
        return DaemonProcess(self.cfg, self.env)

    def target(self, account: str, channel: str) -> str:
        return f"account:{account}/{channel}" if self.channels != ("x",) else f"account:{account}"

    # --- counting at the receivers ------------------------------------------------------------
    def pieces(self, channel: str, account: str) -> list[Piece]:
        """What the account's readers see on `channel`, in the order it arrived."""
        if channel == "x":
            return [Piece(p.id, p.reply_to, p.text, p.at) for p in self.x.posts_by(account)]
        if channel == "telegram":
            assert self.telegram is not None
            # The fake stamps messages with the monotonic clock.
            shift = time.time() - time.monotonic()
            return [
                Piece(str(m.message_id), None if m.reply_to is None else str(m.reply_to), m.text, m.at + shift)
                for m in self.telegram.messages_in(chat_of(account))
            ]
        if channel == "mastodon":
            assert self.mastodon is not None
            return [Piece(st.id, st.reply_to, st.text, st.at) for st in self.mastodon.statuses_by(account)]
        assert self.bluesky is not None
        return [Piece(r.uri, r.reply_parent, r.text, r.at) for r in self.bluesky.posts_by(handle_of(account))]

    def threads(self, channel: str, account: str) -> dict[int, list[Counter[str]]]:
        """Quake number -> one Counter per thread head found for it: how many times each part
        (by its text) arrived in that thread. A part belongs to the warning of the head its
        replies lead back to: the head names the quake ("uji N"), later parts need not. A map
        Telegram sends after its text is a reply in the thread like a part."""
        pieces = self.pieces(channel, account)
        by_id = {p.id: p for p in pieces}

        def head(p: Piece) -> Piece:
            seen = 0
            while p.reply_to is not None and p.reply_to in by_id and seen < 100:
                p, seen = by_id[p.reply_to], seen + 1
            return p

        out: dict[int, list[Counter[str]]] = {}
        by_head: dict[str, Counter[str]] = {}
        first_lines: dict[str, tuple[int, str]] = {}
        orphans: dict[str, Counter[str]] = {}
        for p in pieces:
            h = head(p)
            m = TOKEN.search(h.text)
            if m is None:
                # A later part posted with nothing to reply to: X refused the first part as a
                # duplicate after a kill and never gave its id, so the next part starts afresh.
                if (label := PART.search(h.text)) and label.group(1) != "1":
                    orphans.setdefault(h.id, Counter())[p.text] += 1
                continue
            first_lines.setdefault(h.id, (int(m.group(1)), h.text.split("\n", 1)[0]))
            if h.id not in by_head:
                by_head[h.id] = Counter()
                out.setdefault(int(m.group(1)), []).append(by_head[h.id])
            # A reply without a part's label is the map that follows a Telegram text.
            by_head[h.id][p.text if p is h or PART.search(p.text) else MAP + p.text] += 1
        for root, parts in orphans.items():
            # Its own warning is the one whose head's first line its continuation line repeats
            # (the headline, perhaps cut with an ellipsis) and that lacks its parts; counted
            # there only when exactly one fits, else left out (the warning stays incomplete).
            line = by_id[root].text.split("\n", 1)[0]
            headline = line.rsplit(" (", 1)[0].rstrip("…")
            fits = [
                hid
                for hid, (_, first) in first_lines.items()
                if first.startswith(headline) and not _labels_complete(by_head[hid])
            ]
            if len(fits) == 1:
                by_head[fits[0]].update(parts)
        return out

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
        return n * len(self.channels) + sum(
            sum(1 for i in range(n) if account_of(i) in accts) for accts in PARTNERS.values()
        )

    def count(self, logged: Counter[tuple[str, int, int]] | None = None, upto: int | None = None) -> Tally:
        """Every expected post and webhook, counted at the receivers (quakes below `upto`, all
        by default). On each channel a warning is delivered when its thread's head arrived and
        every part its labels ("k/n") name is there; lost otherwise; each part (or map) that
        arrived more than once is a duplicate, and so is a post at an account that should not
        have it. On Telegram, which has no idempotency key, a part that arrived twice is a
        possible repeat warnd logged (`logged`: (account, quake, part) -> times logged) or, past
        what was logged, a duplicate."""
        n = self.replay.total if upto is None else upto
        t = Tally(expected=0)
        for channel in self.channels:
            for account in ACCOUNTS:
                threads = self.threads(channel, account)
                for i, heads in threads.items():
                    if account_of(i) != account:
                        t.add(channel, dup=sum(sum(c.values()) for c in heads))
                for i in range(n):
                    if account_of(i) != account:
                        continue
                    t.expected += 1
                    heads = threads.get(i, [])
                    whole = Counter[str]()
                    for c in heads:
                        whole.update(c)
                    complete = bool(heads) and _labels_complete(whole)
                    t.add(channel, delivered=int(complete), lost=int(not complete))
                    repeats: Counter[int] = Counter()
                    for text, times in whole.items():
                        if times > 1:
                            m = PART.search(text)
                            # A map is never sent again (part 0: never a logged possible repeat).
                            repeats[0 if text.startswith(MAP) else int(m.group(1)) if m else 1] += times - 1
                    for part, times in repeats.items():
                        if channel == "telegram" and logged is not None:
                            ok = min(times, logged[(account, i, part)])
                            t.add(channel, dup=times - ok, logged=ok)
                        else:
                            t.add(channel, dup=times)
        sink = self.sink_tokens()
        for partner, accts in PARTNERS.items():
            for i in range(n):
                if account_of(i) in accts:
                    got = sink[partner][i]
                    t.expected += 1
                    t.add("partners", delivered=min(got, 1), lost=int(got == 0), dup=max(got - 1, 0))
        return t

    def tally(self) -> tuple[int, int, int]:
        """(delivered, lost, duplicated) over every expected post and webhook."""
        t = self.count()
        return t.delivered, t.lost, t.duplicated

    def complete(self) -> bool:
        return self.replay.done() and self.count().lost == 0

    def posted(self) -> int:
        """Posts, statuses and messages at every channel's fake."""
        return sum(len(self.pieces(c, a)) for c in self.channels for a in ACCOUNTS)

    def missing_on(self, channel: str, upto: int | None = None) -> int:
        """Warnings not (wholly) on `channel` yet, of the quakes below `upto`."""
        t = self.count(upto=upto)
        return t.per_channel.get(channel, [0, 0])[1]


def _labels_complete(parts: Counter[str]) -> bool:
    """Every part a thread's labels ("k/n") announce is there (a text of one part has none)."""
    labels = [m for text in parts if not text.startswith(MAP) and (m := PART.search(text))]
    if not labels:
        return True
    n = int(labels[0].group(2))
    return {int(m.group(1)) for m in labels if int(m.group(2)) == n} >= set(range(1, n + 1))


def possible_repeats(d: DaemonProcess) -> Counter[tuple[str, int, int]]:
    """(account, quake, part) -> how many times warnd logged `telegram.possible_repeat` for it,
    over every process that wrote the scenario's log."""
    out: Counter[tuple[str, int, int]] = Counter()
    for ln in d.log_lines():
        if ln.get("event") != "telegram.possible_repeat":
            continue
        m = EVENT.search(str(ln.get("event_id", "")))
        account = str(ln.get("target", "")).removeprefix("account:").split("/")[0]
        if m:
            out[(account, int(m.group(1)), int(ln.get("part") or 1))] += 1
    return out


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
    """The receivers' counts every second, on a thread: (unix time, posts at the channels'
    fakes, webhooks at the sink). Where a drain's time goes, seen from outside warnd."""

    def __init__(self, s: Scenario, every: float = 1.0) -> None:
        self.s = s
        self.every = every
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self.s.posted(), len(self.s.sink.state.processed)))
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
    # Telegram, Mastodon and Bluesky budgets are set far above a campaign's volume.
    if any(s.missing_on(c) for c in s.channels if c != "x"):
        return 0.0
    slots: list[float] = []
    for account in ACCOUNTS:
        if all(x[account][i] for i in range(n) if account_of(i) == account):
            continue
        posts = s.x_posts or ACCOUNT_POSTS
        recent = sorted(p.at for p in s.x.posts_by(account) if p.at > now - ACCOUNT_WINDOW)
        if len(recent) < posts:
            return 0.0
        slots.append(recent[len(recent) - posts] + ACCOUNT_WINDOW)
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


def arrivals(s: Scenario, channels: tuple[str, ...] | None = None, hooks: bool = True) -> list[float]:
    """When each delivery the campaign counts arrived: thread heads at each channel's fake
    (`channels`, all by default), webhooks at the sink."""
    posts = [p.at for c in channels or s.channels for a in ACCOUNTS for p in s.pieces(c, a) if p.reply_to is None]
    webhooks = [r.at for p in PARTNERS for r in s.sink.receipts(p)] if hooks else []
    return sorted(posts + webhooks)


def drain(
    s: Scenario,
    since: float,
    what: str,
    margin: float = STALL_MARGIN,
    done: Callable[[], bool] | None = None,
    channels: tuple[str, ...] | None = None,
    hooks: bool = True,
) -> Drain:
    """Wait for every post and webhook (or until `done()`) for as long as warnd makes progress
    (`progressing`), and measure the drain from `since` (at `channels` and the sink, or not)."""
    stall = progressing(s, done or s.complete, what, margin)
    after = [t for t in arrivals(s, channels, hooks) if t >= since]
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
    channels: tuple[str, ...] = ("x",),
) -> Iterator[Scenario]:
    """The scenario's servers and config. `channels`: ("x",) makes five X accounts (`channel:
    x`); more makes each account publish on those channels (`channels:`), each through its fake."""
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
    # Like the fake X's, these fakes' limits are far above the run's volume.
    telegram = FakeTelegram({TG_TOKEN: BOT}, {BOT: [chat_of(a) for a in ACCOUNTS]}, per_chat=100_000, per_bot=100_000)
    mastodon = FakeMastodon(
        {f"mtok-{a}": a for a in ACCOUNTS}, max_characters=500, rate_limit=100_000, media_limit=100_000
    )
    bluesky = FakeBluesky({handle_of(a): f"pw-{a}" for a in ACCOUNTS}, points_per_hour=10_000_000)
    servers: list[LocalServer | FeedServer | WebhookSink] = [fake, sink, feed]
    servers += [f for c, f in (("telegram", telegram), ("mastodon", mastodon), ("bluesky", bluesky)) if c in channels]
    for server in servers:
        server.start()
    threads = channels != ("x",)
    replay = Replay(feed, events, step, every, threads=threads)
    if channels == ("x",):
        accounts = "".join(
            f'\n  {a}: {{channel: x, name: "{a}", regions: ["{code}"], credential: x-{a}}}'
            for a, (code, _, _) in PROVINCES.items()
        )
    else:
        # The campaigns are about faults, not budgets: Telegram's chat budget and pace far above
        # the run's volume, as the fakes' limits are.
        settings = {
            "x": lambda a: f"{{credential: x-{a}}}",
            "telegram": lambda a: (
                f'{{credential: tg-bot, chat_id: "{chat_of(a)}", api_base: "{telegram.base}", timeout: 5,'
                " chat_budget: {posts: 100000, window: 1m, reserve: 10}, chat_pace: {posts: 1000, window: 1s},"
                " bot_budget: {posts: 100000, window: 1s, reserve: 10}}"
            ),
            "mastodon": lambda a: f'{{credential: mastodon-{a}, instance: "{mastodon.base}", timeout: 5}}',
            "bluesky": lambda a: f'{{handle: {handle_of(a)}, credential: bsky-{a}, pds: "{bluesky.base}", timeout: 5}}',
        }
        accounts = "".join(
            f'\n  {a}:\n    name: "{a}"\n    regions: ["{code}"]\n    channels:'
            + "".join(f"\n      {c}: {settings[c](a)}" for c in channels)
            for a, (code, _, _) in PROVINCES.items()
        )
    partners = "".join(
        f'\n  {p}: {{name: {p}, url: "{sink.url(p)}", secret: partner-{p}, accounts: {accts}'
        + (", format: cap}" if p == "tv" else "}")
        for p, accts in PARTNERS.items()
    )
    # With threads, X's posts outnumber the warnings: its budget is set above the run's volume,
    # as Telegram's are (the one-channel campaigns keep warnd's default and wait for it).
    x_budget = f"  account_budget: {{posts: {THREAD_X_POSTS + 10}, window: 15m, reserve: 10}}\n" if threads else ""
    extra = f"""x:
  api_base: {fake.base}
  read_timeout: 5
{x_budget}partners:{partners}
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
    env["WARND_SECRET_TG_BOT"] = TG_TOKEN
    for a in ACCOUNTS:
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN"] = f"tok-{a}"
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN_SECRET"] = f"sec-{a}"
        env[f"WARND_SECRET_MASTODON_{a.upper()}"] = f"mtok-{a}"
        env[f"WARND_SECRET_BSKY_{a.upper()}_APP_PASSWORD"] = f"pw-{a}"
    s = Scenario(
        folder,
        cfg,
        env,
        feed,
        fake,
        sink,
        replay,
        channels,
        THREAD_X_POSTS if threads else None,
        telegram if "telegram" in channels else None,
        mastodon if "mastodon" in channels else None,
        bluesky if "bluesky" in channels else None,
    )
    try:
        yield s
    finally:
        replay.stop()
        for server in servers:
            server.stop()


def _settle(out: Outcome, s: Scenario, d: DaemonProcess) -> None:
    """Stop the daemon (an exit other than 0 is a crash) and count at the receivers."""
    code = d.stop()
    if code != 0:
        out.crashes += 1
        out.notes.append(f"the last stop exited {code}")
    t = s.count(possible_repeats(d))
    out.expected, out.delivered, out.lost, out.duplicated = t.expected, t.delivered, t.lost, t.duplicated
    out.repeats = t.logged_repeats
    out.tally = t
    if s.channels != ("x",):
        out.notes.append("counted per receiver: " + t.note())
        seen = {c: sum(len(s.pieces(c, a)) for a in ACCOUNTS) for c in s.channels}
        out.notes.append("posts, parts and maps at each fake: " + ", ".join(f"{c} {n}" for c, n in seen.items()))


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


def kill9(folder: Path, kills: int, events: int = 300, seed: int = 8, channels: tuple[str, ...] = CHANNELS) -> Outcome:
    """SIGKILL the daemon `kills` times at random moments of the replay (one in three during
    start-up, the others in the work), then let the last one finish: every post and webhook
    exactly once at the receivers, on every channel. Telegram alone may show a part twice,
    and only where warnd logged it as a possible repeat (a kill between the request and its
    record): those are counted apart, any other repeat is a duplicate."""
    rnd = random.Random(seed)
    out = Outcome("kill -9 mid-replay", f"{kills} kills, {len(channels)} channels + 2 partners")
    started = time.monotonic()
    with scenario(folder, events=events, channels=channels) as s:
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
            killed_with_posts.append(s.posted())
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
        resent = [f"{refused} refused by X as duplicate content", f"{repeats} webhook repeats"]
        if s.mastodon is not None:
            keys = Counter(a.key for a in s.mastodon.attempts_at("/api/v1/statuses") if a.key)
            resent.append(f"{sum(n - 1 for n in keys.values())} Mastodon statuses answered by their Idempotency-Key")
        if s.bluesky is not None:
            taken = sum(1 for a in s.bluesky.state.attempts if a.status == 500)
            resent.append(f"{taken} Bluesky records found by their key")
        logged = sum(possible_repeats(d).values())
        if s.telegram is not None:
            resent.append(
                f"{logged} Telegram parts sent again and logged as possible repeats, {out.repeats} seen twice"
            )
        out.notes.append("re-sends after a kill: " + ", ".join(resent))
        out.extra = {"possible_repeats_logged": logged}
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


def set_down(s: Scenario, channel: str, down: bool) -> None:
    """The channel's fake answers every request with a server error (an HTML 503) or again."""
    if channel == "x":
        s.x.down = "503-html" if down else None
        return
    fake = {"telegram": s.telegram, "mastodon": s.mastodon, "bluesky": s.bluesky}[channel]
    assert fake is not None
    fake.down = 503 if down else None


def attempts(s: Scenario, channel: str) -> int:
    """Posting requests that reached the channel's fake so far, answered or not."""
    if channel == "x":
        return len(s.x.state.attempts)
    if channel == "telegram":
        assert s.telegram is not None
        return len(s.telegram.state.attempts)
    if channel == "mastodon":
        assert s.mastodon is not None
        return len(s.mastodon.attempts_at("/api/v1/statuses"))
    assert s.bluesky is not None
    return len(s.bluesky.state.attempts)


def outage(folder: Path, events: int = 100, spell: float = 8.0, channels: tuple[str, ...] = CHANNELS) -> Outcome:
    """Two spells, each with some platforms down while the others carry on:

    1. X and Telegram down, the TV partner down and the radio flapping, while the first half of
       the quakes arrive and for `spell` seconds more; then the feed serving garbage, a 500, a
       hang and a drip. Mastodon and Bluesky post every one of them meanwhile.
    2. X, Telegram and the partners back (their backlog drains), Mastodon and Bluesky down
       while the second half arrives, until X and Telegram have posted every one of it. Then
       Mastodon and Bluesky are back.

    Counted at the receivers: nothing lost or repeated on any channel, each channel's backlog
    drained most urgent first, the healthy channels' posts arriving during each spell, memory
    flat, health degraded then ok."""
    first = tuple(c for c in channels if c in ("x", "telegram"))
    second = tuple(c for c in channels if c not in first)
    half = events // 2
    out = Outcome(
        "outages",
        f"{'+'.join(first)} down, then {'+'.join(second) or 'nothing'} down; partner flapping; feed: "
        + ", ".join(f for f, _ in FEED_FAULTS),
    )
    started = time.monotonic()
    # Retries as in production (2 s doubling to 10 min): the backlog must start draining within
    # probe_every of X's return, not at the end of a lane's backoff.
    dispatch = "  backlog_alarm: 2\n"
    with scenario(
        folder,
        events=events,
        # Spread over a few seconds, so that the healthy channels' posts are seen arriving
        # during the spell, not in one burst.
        step=10,
        every=0.4,
        dispatch=dispatch,
        feed_extra="    stale_after: 3\n    backoff_max: 1\n",
        rules=PRIORITY_RULES,
        channels=channels,
    ) as s:
        d = s.daemon()
        try:
            d.ready(60)
            for c in first:
                set_down(s, c, True)
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
            down1 = time.time()
            s.replay.release(half)
            s.replay.start()
            wait_for(lambda: s.replay.in_feed() >= half, 60, "the first half of the replay")
            # Memory is judged from here: every quake's map drawn (the drawing warms up a few tens
            # of MB once), while the backlog waits.
            wait_for(lambda: _logged(d, "map.made") >= half, 120, "every quake's map", every=0.5)
            rss: list[float] = []
            seen: set[str] = set()
            deadline = time.monotonic() + spell
            while time.monotonic() < deadline:
                rss.append(d.rss_mb())
                h = health(s)
                if h:
                    seen.add(h["status"])
                time.sleep(0.25)
            # The feed goes bad in four ways, each for long enough to be polled a few times.
            doc = s.feed.routes["/usgs.geojson"].body
            for _, fault in FEED_FAULTS:
                kw = {"body": doc, **fault}
                s.feed.serve("/usgs.geojson", kw.pop("body"), **kw)
                time.sleep(4.0)
                rss.append(d.rss_mb())
            s.replay.republish()
            up1 = time.time()
            during = s.tally()
            spell1 = _spell(s, first, second, down1, up1, half, 0)
            flapping.set()
            flapper.join(2)
            tried = Counter(a.user for a in list(s.x.state.attempts))
            with Progress(s) as progress:
                # Mastodon and Bluesky go down before X and Telegram return: no moment with all up.
                before2 = {c: attempts(s, c) for c in second}
                for c in second:
                    set_down(s, c, True)
                down2 = time.time()
                s.sink.down.clear()
                for c in first:
                    set_down(s, c, False)
                returned = time.time()
                first_done = _done_upto(s, first, half)
                drained = drain(s, returned, f"{'+'.join(first)}' backlog to drain", done=first_done, channels=first)
                # The second half arrives with Mastodon and Bluesky down; X and Telegram take it.
                s.replay.release(events)
                wait_for(s.replay.done, 60, "the second half of the replay")
                progressing(s, _done_upto(s, first, events), f"the second half on {'+'.join(first)}")
                up2 = time.time()
                spell2 = _spell(s, second, first, down2, up2, events, half)
                spell2.tried = {c: attempts(s, c) - before2[c] for c in second}
                for c in second:
                    set_down(s, c, False)
                returned2 = time.time()
                drained2 = drain(s, returned2, f"{'+'.join(second)}' backlog to drain", channels=second, hooks=False)

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
        back = [ln for ln in d.log_lines() if ln.get("event") == "channel.back"]
        reasons = [str(ln.get("error", "")) for ln in failed]
        out.notes.append(f"{during[0]} delivered during the first spell")
        out.notes.append(spell1.note())
        out.notes.append(spell2.note())
        out.notes.append("health seen: " + ", ".join(sorted(seen)) + f"; {ok['status']} at the end")
        out.notes.append(f"RSS {min(rss):.0f}-{max(rss):.0f} MB")
        out.notes.append(f"{len(failed)} failed polls")
        out.drained = drained
        out.notes.append(drained.note(f"{'+'.join(first)} and the partners came back"))
        out.notes.append(drained2.note(f"{'+'.join(second)} came back"))
        out.notes.append(f"{max(tried.values(), default=0)} requests at most per account while X was down")
        tried_down = {**spell1.tried, **spell2.tried}
        out.notes.append("requests while down: " + ", ".join(f"{c} {n}" for c, n in tried_down.items()))
        # X's accounts share one platform (the app); each Telegram chat, Mastodon and Bluesky
        # account and partner is a platform of its own.
        platforms: dict[str, list[dict[str, Any]]] = {}
        for ln in back:
            name = str(ln.get("platform"))
            platforms.setdefault(name.rsplit("/", 1)[-1] if name.startswith("account:") else name, []).append(ln)
        out.notes.append(
            "answering again: "
            + "; ".join(
                f"{name} ({len(lns)}) after {min(ln['down_s'] for ln in lns)}-{max(ln['down_s'] for ln in lns)} s"
                f" down, {sum(ln['lanes_released'] for ln in lns)} lanes released"
                for name, lns in platforms.items()
            )
        )
        order = {c: drain_order(s, c, range(0, half) if c in first else range(half, events)) for c in channels}
    out.seconds = time.monotonic() - started
    out.extra = {
        "seen": seen,
        "rss": rss,
        "order": order,
        "feed_errors": reasons,
        "x_during": spell1.down_posts.get("x", 0),
        "spells": [spell1, spell2],
        "drain": drained,
        "drain2": drained2,
        "tried_while_down": dict(tried),
        "timeline": progress.timeline(returned),
        "back": back,
    }
    return out


@dataclass
class Spell:
    """One spell of an outage, seen at the receivers."""

    down: tuple[str, ...]  # the channels that were down
    seconds: float
    # Per channel: heads that arrived during the spell, and (healthy ones) warnings of the
    # spell's quakes still missing at its end.
    healthy_posts: dict[str, int]
    healthy_missing: dict[str, int]
    down_posts: dict[str, int]
    spread: dict[str, tuple[float, float]]  # healthy channel -> first and last arrival, s into the spell
    tried: dict[str, int] = field(default_factory=dict)

    def note(self) -> str:
        healthy = ", ".join(
            f"{c} {n} (+{self.spread[c][0]:.0f}..+{self.spread[c][1]:.0f} s, {self.healthy_missing[c]} missing)"
            for c, n in self.healthy_posts.items()
        )
        down = ", ".join(f"{c} {n}" for c, n in self.down_posts.items())
        return f"{'+'.join(self.down)} down {self.seconds:.0f} s: posts meanwhile at {healthy}; at the down ones {down}"


def _spell(
    s: Scenario, down: tuple[str, ...], healthy: tuple[str, ...], since: float, until: float, upto: int, start: int
) -> Spell:
    def heads(c: str) -> list[float]:
        return [t for t in arrivals(s, (c,), hooks=False) if since <= t <= until]

    spread = {c: ((h[0] - since, h[-1] - since) if (h := heads(c)) else (0.0, 0.0)) for c in healthy}
    t = s.count(upto=upto)
    earlier = s.count(upto=start) if start else None
    missing = {
        c: t.per_channel.get(c, [0, 0])[1] - (earlier.per_channel.get(c, [0, 0])[1] if earlier else 0) for c in healthy
    }
    return Spell(
        down,
        until - since,
        {c: len(heads(c)) for c in healthy},
        missing,
        {c: len(heads(c)) for c in down},
        spread,
        {c: attempts(s, c) for c in down} if not start else {},
    )


def _done_upto(s: Scenario, channels: tuple[str, ...], upto: int) -> Callable[[], bool]:
    """True once every quake below `upto` is wholly on `channels` and at the partners."""

    def done() -> bool:
        if s.replay.in_feed() < upto:
            return False
        t = s.count(upto=upto)
        return all(t.per_channel.get(c, [0, 0])[1] == 0 for c in (*channels, "partners"))

    return done


def drain_order(s: Scenario, channel: str, quakes: range) -> dict[str, list[float]]:
    """Per account, the magnitudes of its thread heads on `channel` about `quakes`, in the
    order they arrived."""
    out: dict[str, list[float]] = {a: [] for a in ACCOUNTS}
    for a in ACCOUNTS:
        for p in s.pieces(channel, a):
            m = MAGNITUDE.search(p.text)
            k = TOKEN.search(p.text)
            if p.reply_to is None and m and k and int(k.group(1)) in quakes:
                out[a].append(float(m.group(1)))
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
