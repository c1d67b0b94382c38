"""`warnd run` against the fake Telegram Bot API with the shipped earthquake rules: a recorded
felt quake reaches the account's Telegram channel once, and BMKG's felt list for it arrives as
an update replying to the first message, counted at the fake request by request."""

from __future__ import annotations

import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import Daemon, wait_for
from tests.acceptance.test_felt_extend_daemon import RULES, documents
from tests.conftest import REGIONS, write_config
from warnd.testing.fake_telegram import FakeTelegram

pytestmark = pytest.mark.acceptance

TOKEN = "7000001:AAH-acceptance-token"
BOT = "warnd_sulut_bot"
CHAT = "@gempa_sulut"


def test_a_recorded_quake_reaches_telegram_once_and_its_update_replies(tmp_path, feed_server, monkeypatch):
    monkeypatch.setenv("WARND_SECRET_TG_SULUT", TOKEN)
    first, felt = documents()
    url = feed_server.serve("/gempa.json", first)
    feeds = f"  - id: bmkg-gempa\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
    with FakeTelegram({TOKEN: BOT}, {BOT: [CHAT]}) as fake:
        accounts = (
            f'\n  sulut: {{channel: telegram, name: "Sulut", credential: tg-sulut, chat_id: "{CHAT}",'
            f' api_base: "{fake.base}", timeout: 5, regions: ["71"]}}'
        )
        extra = f"district_points: {REGIONS}/district-points.csv\nplace_aliases: {REGIONS}/place-aliases.csv\n"
        cfg = write_config(tmp_path, feeds=feeds, rules=RULES, accounts=accounts, extra=extra, replay=True)

        def sent(kind: str) -> list[dict]:
            return [
                w
                for w in history(cfg)
                if w["kind"] == kind
                and any(x["target"] == "account:sulut" and x["state"] == "sent" for x in w["deliveries"])
            ]

        d = Daemon(cfg, tmp_path / "daemon.log")
        try:
            (new,) = wait_for(lambda: sent("new"), timeout=60, what="the first message")
            assert "Kota Bitung" in new["text"]
            # The start-up credential check is getMe with the bot's token.
            wait_for(lambda: fake.state.me, timeout=30, what="the credential check")
            texts = [m for m in fake.messages_in(CHAT) if m.reply_to is None]
            assert len(texts) == 1 and "Kota Bitung" in texts[0].text
            first_id = texts[0].message_id

            feed_server.serve("/gempa.json", felt)
            (extend,) = wait_for(lambda: sent("extend"), timeout=60, what="the update")
            assert "Kota Manado" in extend["text"]
            assert d.stop() == 0

            messages = fake.messages_in(CHAT)
            # A map not drawn in time follows as a photo answering its own message (its caption
            # the map's description, which names the regions too): the update answers the first.
            updates = [m for m in messages if "Kota Manado" in m.text and m.reply_to == first_id]
            assert len(updates) == 1
            # Counted at the receiver: every text request was taken, and none was sent twice.
            taken = [a for a in fake.attempts_in(CHAT) if a.message_id is not None]
            assert len(taken) == len(fake.attempts_in(CHAT)) == len(messages)
            # Each warning's map went once: as the caption of its message, or as a reply after it.
            assert len([m for m in messages if m.photo]) == 2
            texts_sent = [a.text for a in taken]
            assert len(texts_sent) == len(set(texts_sent))
            assert TOKEN not in (tmp_path / "daemon.log").read_text()
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(timeout=30)
