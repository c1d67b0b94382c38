"""One account publishing on X, Telegram, Mastodon and Bluesky at once (`channels:`), the
daemon as a subprocess against the four fakes: each channel is a target of its own, so X being
down holds up nobody else; when X returns it gets the warning once; BMKG's felt list then
arrives on every channel as an update in that channel's own thread. Counted at the fakes."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import wait_for
from tests.acceptance.test_felt_extend_daemon import RULES, documents
from tests.conftest import REGIONS, write_config
from warnd.testing.daemon import DaemonProcess
from warnd.testing.fake_bluesky import FakeBluesky
from warnd.testing.fake_mastodon import FakeMastodon
from warnd.testing.fake_telegram import FakeTelegram
from warnd.testing.fake_x import FakeX

pytestmark = pytest.mark.acceptance

TG_TOKEN = "7000002:AAH-four-channels"
BOT, CHAT = "warnd_sulut_bot", "@gempa_sulut"
MASTODON_TOKEN = "tok-sulut-mastodon"
HANDLE, PASSWORD = "bmkg-sulut.bsky.social", "abcd-efgh-ijkl-mnop"
CHANNELS = ("x", "telegram", "mastodon", "bluesky")
ENV = {
    "WARND_SECRET_X_APP_CONSUMER_KEY": "app-key",
    "WARND_SECRET_X_APP_CONSUMER_SECRET": "app-secret",
    "WARND_SECRET_X_SULUT_ACCESS_TOKEN": "tok-sulut",
    "WARND_SECRET_X_SULUT_ACCESS_TOKEN_SECRET": "sec-sulut",
    "WARND_SECRET_TG_SULUT": TG_TOKEN,
    "WARND_SECRET_MASTODON_SULUT": MASTODON_TOKEN,
    "WARND_SECRET_BSKY_SULUT_APP_PASSWORD": PASSWORD,
}


def _status(cfg: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "warnd.cli", "status", "-c", str(cfg), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return dict(json.loads(out.stdout))


def test_one_account_on_four_channels_x_down_delays_nobody_and_each_gets_its_own_thread(tmp_path, feed_server):
    first, felt = documents()
    url = feed_server.serve("/gempa.json", first)
    feeds = f"  - id: bmkg-gempa\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
    x = FakeX(consumer_key="app-key", consumer_secret="app-secret", users={"tok-sulut": ("sec-sulut", "sulut")})
    with (
        x,
        FakeTelegram({TG_TOKEN: BOT}, {BOT: [CHAT]}) as tg,
        FakeMastodon({MASTODON_TOKEN: "sulut"}, max_characters=500) as masto,
        FakeBluesky({HANDLE: PASSWORD}) as pds,
    ):
        accounts = f"""
  sulut:
    name: "Gempa Sulut"
    regions: ["71"]
    channels:
      x: {{credential: x-sulut}}
      telegram: {{credential: tg-sulut, chat_id: "{CHAT}", api_base: "{tg.base}", timeout: 5}}
      mastodon: {{credential: mastodon-sulut, instance: "{masto.base}"}}
      bluesky: {{handle: {HANDLE}, credential: bsky-sulut, pds: "{pds.base}"}}
"""
        extra = (
            f"district_points: {REGIONS}/district-points.csv\nplace_aliases: {REGIONS}/place-aliases.csv\n"
            f"x:\n  api_base: {x.base}\n"
        )
        cfg = write_config(tmp_path, feeds=feeds, rules=RULES, accounts=accounts, extra=extra, replay=True)

        def state(kind: str, channel: str) -> str | None:
            for w in history(cfg):
                if w["kind"] == kind:
                    for dl in w["deliveries"]:
                        if dl["target"] == f"account:sulut/{channel}":
                            return str(dl["state"])
            return None

        # X answers every post with a server error until it comes back.
        x.down = "500"
        d = DaemonProcess(cfg, ENV)
        try:
            d.ready()
            for channel in ("telegram", "mastodon", "bluesky"):
                wait_for(lambda c=channel: state("new", c) == "sent", timeout=60, what=f"the quake on {channel}")
            # Three channels have it while X still refuses: X's outage held up none of them.
            assert state("new", "x") != "sent" and x.posts_by("sulut") == []
            # X was tried and refused (its lane waits for the map as the others do, so its first
            # attempt may come after theirs on a loaded machine).
            wait_for(lambda: any(a.status == 500 for a in x.attempts_by("sulut")), timeout=30, what="X's 500")
            (tg_first,) = [m for m in tg.messages_in(CHAT) if m.reply_to is None]
            (masto_first, *_) = masto.statuses_by("sulut")
            bsky_first = pds.posts_by(HANDLE)[0]
            assert all("Kota Bitung" in t for t in (tg_first.text, masto_first.text, bsky_first.text))
            # `warnd status` shows each channel's own queue: X's waits, the others are clear.
            queues = _status(cfg)["queues"]
            assert queues["account:sulut/x"]["waiting"] >= 1
            for c in ("telegram", "mastodon", "bluesky"):
                assert queues.get(f"account:sulut/{c}", {"waiting": 0})["waiting"] == 0
            # Each channel had its own start-up credential check, with its own credential.
            wait_for(lambda: x.me_calls("sulut"), timeout=30, what="X's credential check")
            wait_for(lambda: tg.state.me, timeout=30, what="Telegram's credential check")
            wait_for(
                lambda: masto.attempts_at("/api/v1/accounts/verify_credentials", "GET"),
                timeout=30,
                what="Mastodon's credential check",
            )
            wait_for(lambda: pds.state.get_session, timeout=30, what="Bluesky's credential check")

            x.down = None
            wait_for(lambda: state("new", "x") == "sent", timeout=60, what="the quake on X after it came back")
            x_first = x.posts_by("sulut")[0]
            assert x_first.reply_to is None

            feed_server.serve("/gempa.json", felt)
            for channel in CHANNELS:
                wait_for(lambda c=channel: state("extend", c) == "sent", timeout=60, what=f"the update on {channel}")
            assert d.stop() == 0
        finally:
            d.kill()

        # Each channel's update answers that channel's own thread about the quake. A map not
        # drawn in time follows its post as a reply of its own ("Peta: ..."), which a loaded
        # machine makes happen: the thread is the text.
        for posts in (x.posts_by("sulut"), masto.statuses_by("sulut")):
            texts = [p for p in posts if not p.text.startswith("Peta:")]
            first = [p for p in texts if "Kota Manado" not in p.text]
            later = texts[len(first) :]
            assert first and later and first[0].reply_to is None and later[0].reply_to == first[-1].id
            assert all(p.reply_to == q.id for q, p in itertools.pairwise(first + later))
            assert "Kota Manado" in "".join(p.text for p in later)
        # (A late map goes to Telegram as a photo answering its own message, not the first.)
        tg_updates = [m for m in tg.messages_in(CHAT) if m.reply_to == tg_first.message_id and "Kota Manado" in m.text]
        assert len(tg_updates) == 1
        statuses = masto.statuses_by("sulut")
        bsky = pds.posts_by(HANDLE)
        assert any("Kota Manado" in p.text for p in bsky)
        assert all(p.reply_root == bsky_first.uri for p in bsky[1:] if p.reply_root is not None)

        # Exactly once, counted at each receiver: no text taken twice on any channel.
        for texts in (
            [p.text for p in x.posts_by("sulut")],
            [m.text for m in tg.messages_in(CHAT)],
            [s.text for s in statuses],
            [p.text for p in bsky],
        ):
            assert texts and len(texts) == len(set(texts))
        # X took each of its posts at the first request once it was back (the 500s aside).
        assert len([a for a in x.attempts_by("sulut") if a.post_id is not None]) == len(x.posts_by("sulut"))
        log = d.log.read_text()
        for secret in ENV.values():
            assert secret not in log
