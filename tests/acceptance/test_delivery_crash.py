"""kill -9 of `warnd run` in the middle of a burst to X and partners, then a restart: nothing
lost, nothing posted twice at the fake X, nothing processed twice at the partner sink."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.conftest import history as read_history
from tests.acceptance.test_daemon_end_to_end import Daemon, log_lines, wait_for
from tests.conftest import write_config
from warnd.channels.webhook import WebhookSender
from warnd.testing.fake_x import FakeX
from warnd.testing.webhook_sink import WebhookSink

pytestmark = pytest.mark.acceptance

ACCOUNTS = ["aceh", "ntb", "jabar"]
# Epicentres inside Indonesia, so every quake is near some region.
PLACES = [(95.3, 5.5), (116.3, -8.6), (107.6, -6.9), (119.9, -8.7), (128.2, -3.6), (101.4, 0.5), (123.6, -10.2)]
# Every account reaches every quake (the provinces of PLACES), each with one province of its own:
# accounts of one channel with the same regions would post identical texts, which check refuses.
REACH = ["11", "52", "32", "53", "81", "14"]
OWN = {"aceh": "12", "ntb": "13", "jabar": "15"}


def account_yaml(names: list[str]) -> str:
    return "".join(
        f'\n  {a}: {{channel: x, name: "{a}", regions: {json.dumps([*REACH, OWN[a]])}, credential: x-{a}}}'
        for a in names
    )


RULES = """rules:
  - id: gempa-burst
    match:
      hazard: earthquake
      magnitude: ">= 4.0"
    where:
      within_km: 300
    then:
      accounts: ["*"]
"""


def quakes(n: int) -> bytes:
    now_ms = int(time.time() * 1000)
    features = []
    for i in range(n):
        lon, lat = PLACES[i % len(PLACES)]
        eid = f"us7000b{i:03d}"
        features.append(
            {
                "type": "Feature",
                "id": eid,
                "geometry": {"type": "Point", "coordinates": [lon + i * 0.01, lat, 10.0 + i]},
                "properties": {
                    "mag": 4.5 + (i % 10) / 10,
                    "place": f"test quake {i}",
                    "time": now_ms - (n - i) * 60_000,
                    "updated": now_ms - (n - i) * 60_000 + 5000,
                    "status": "reviewed",
                    "tsunami": 0,
                    "net": "us",
                    "code": eid[2:],
                    "ids": f",{eid},",
                    "type": "earthquake",
                    "title": f"M {4.5 + (i % 10) / 10:.1f} - test quake {i}",
                    "url": f"https://earthquake.usgs.gov/earthquakes/eventpage/{eid}",
                },
            }
        )
    return json.dumps({"type": "FeatureCollection", "metadata": {"generated": now_ms}, "features": features}).encode()


@contextlib.contextmanager
def burst(tmp_path: Path, feed_server) -> Iterator[tuple[Path, FakeX, WebhookSink]]:
    """20 quakes for 3 X accounts on a fake X (a little latency) and 2 partner sinks, with the
    credentials in the environment: 60 posts and 80 webhooks, long enough to cut into."""
    users = {f"tok-{a}": (f"sec-{a}", a) for a in ACCOUNTS}
    fake = FakeX(consumer_key="app-key", consumer_secret="app-secret", users=users, latency=0.08)
    sink = WebhookSink({"radio": "radio-secret", "tv": "tv-secret"})
    fake.start()
    sink.start()
    url = feed_server.serve("/usgs.geojson", quakes(20))
    accounts = account_yaml(ACCOUNTS)
    extra = f"""x:
  api_base: {fake.base}
  read_timeout: 5
partners:
  radio: {{name: Radio, url: "{sink.url("radio")}", secret: partner-radio, accounts: [aceh, ntb, jabar]}}
  tv: {{name: TV, url: "{sink.url("tv")}", secret: partner-tv, accounts: [aceh], format: cap}}
dispatch:
  retry_min: 0.2
  retry_max: 2
"""
    feeds = f"""  - id: usgs
    format: usgs-geojson
    url: {url}
    interval: 0.5
"""
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES, accounts=accounts, extra=extra)
    env = {
        "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
        "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
        "WARND_SECRET_PARTNER_RADIO": "radio-secret",
        "WARND_SECRET_PARTNER_TV": "tv-secret",
    }
    for a in ACCOUNTS:
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN"] = f"tok-{a}"
        env[f"WARND_SECRET_X_{a.upper()}_ACCESS_TOKEN_SECRET"] = f"sec-{a}"
    os.environ.update(env)
    try:
        yield cfg, fake, sink
    finally:
        for k in env:
            os.environ.pop(k, None)
        fake.stop()
        sink.stop()


def test_kill_9_mid_burst_then_restart_loses_nothing_and_repeats_nothing(tmp_path, feed_server):
    with burst(tmp_path, feed_server) as (cfg, fake, sink):
        history, at_kill = _kill_and_restart(tmp_path, cfg, fake)
    _check(history, at_kill, fake, sink, tmp_path / "daemon.log")


def _kill_and_restart(tmp_path: Path, cfg: Path, fake: FakeX) -> tuple[list[dict], int]:
    log = tmp_path / "daemon.log"
    d = Daemon(cfg, log)
    try:
        wait_for(lambda: len(fake.state.posts) >= 12, timeout=30, what="the burst to start")
    finally:
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=30)
    at_kill = len(fake.state.posts)

    d = Daemon(cfg, log)
    try:
        history = wait_for(lambda: _all_sent(cfg), timeout=60, what="every delivery sent after the restart")
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    return history, at_kill


def _check(history: list[dict], at_kill: int, fake: FakeX, sink: WebhookSink, log: Path) -> None:
    assert at_kill < 60, "the kill came after the burst: nothing was cut off"
    per_target: dict[str, int] = {}
    for w in history:
        for dl in w["deliveries"]:
            per_target[dl["target"]] = per_target.get(dl["target"], 0) + 1
    # Every issued warning reached X exactly once per account (a long one as a thread: its first
    # post answers nothing, its other parts answer the part before) ...
    for a in ACCOUNTS:
        posts = fake.posts_by(a)
        # What was sent, refusals included: a re-send after the kill may be refused as a repeat
        # of a post X took; nothing else is refused.
        taken = {p.text for p in posts}
        refused = [x for x in fake.attempts_by(a) if x.post_id is None and x.status != 0]
        # Named in full when it fails: the status, X's detail and what the attempt carried.
        odd = [(x.status, x.detail, (x.text or "")[:60], x.reply_to, x.media_ids) for x in refused]
        assert all(x.duplicate and x.text in taken for x in refused), (a, odd)
        heads = {p.id for p in posts if p.reply_to is None}
        sent_ids = {dl["remote_id"] for w in history for dl in w["deliveries"] if dl["target"] == f"account:{a}"}
        assert per_target[f"account:{a}"] == 20
        # A kill between X taking a thread part and warnd recording its id leaves that one
        # thread in two pieces (the part's id is not known to reply to): one per lane at most.
        assert 20 <= len(heads) <= 21, a
        assert sent_ids - {None} <= heads
    # ... and each partner processed each warning once (a repeat, if any, was only answered).
    for partner in ("radio", "tv"):
        keys = sink.keys(partner)
        assert len(keys) == len(set(keys)) == per_target[f"partner:{partner}"]
    assert per_target["partner:radio"] == 60 and per_target["partner:tv"] == 20
    # A partner lane records a backlog batch as sent when the batch is done: a kill mid-batch
    # re-sends what that batch had sent, at most one batch per lane, each answered as a repeat.
    for partner in ("radio", "tv"):
        assert sum(sink.state.repeats.get(k, 0) for k in set(sink.keys(partner))) <= WebhookSender.batch, partner
    assert fake.state.duplicates <= len(ACCOUNTS)
    assert fake.state.bad_signatures == 0 and fake.state.limit_hits == 0
    # The restart said which attempts it found cut off, and secrets never reached the log.
    text = log.read_text()
    assert "daemon.started" in text and "sec-aceh" not in text and "radio-secret" not in text
    assert any(ln["event"] == "warning.delivered" for ln in log_lines(log))


def _all_sent(cfg: Path) -> list[dict] | None:
    rows = read_history(cfg)
    if len(rows) < 60:
        return None
    states = {dl["state"] for w in rows for dl in w["deliveries"]}
    return rows if states == {"sent"} else None
