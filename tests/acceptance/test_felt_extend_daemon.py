"""`warnd run` against the fake X with the shipped earthquake rules: a quake first read without
its felt list, then with BMKG's felt list naming regencies the prediction did not reach. The
account's first post and the update that names them arrive on X, the update as a reply in the
first post's thread, every part of each once."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import Daemon, wait_for
from tests.conftest import REGIONS, ROOT, write_config
from warnd.testing.fake_x import FakeX, Post

pytestmark = pytest.mark.acceptance

RULES = (ROOT / "config" / "rules" / "gempa.yaml").read_text()
ACCOUNTS = {"sulut": "71", "malut": "82"}
# A map that missed its post goes as a reply of its own (channels.x): not a part of the thread.
MAP_REPLY = "Peta: "


def text_posts(fake_x: FakeX, user: str) -> list[Post]:
    return [p for p in fake_x.posts_by(user) if not (p.text or "").startswith(MAP_REPLY)]


def documents() -> tuple[bytes, bytes]:
    """M4.6 at 43 km, 79 km east of Bitung (18 Dec 2025, gempadirasakan): as gempaterkini shows
    it (no felt list) and as BMKG listed it felt (III Bitung, III Tondano, III Manado)."""
    doc = json.loads((ROOT / "feeds/samples/bmkg-tews/gempadirasakan_2025-12-24_darcien.json").read_bytes())
    (entry,) = [g for g in doc["Infogempa"]["gempa"] if g["Wilayah"].endswith("79 km Timur Bitung")]
    bare = {k: v for k, v in entry.items() if k != "Dirasakan"} | {"Potensi": "Tidak berpotensi tsunami"}
    return json.dumps({"Infogempa": {"gempa": [bare]}}).encode(), json.dumps({"Infogempa": {"gempa": [entry]}}).encode()


def test_a_felt_list_reaches_x_as_an_update_in_the_thread(tmp_path, feed_server, fake_x_for: Callable[..., FakeX]):
    fake_x = fake_x_for(list(ACCOUNTS))
    first, felt = documents()
    url = feed_server.serve("/gempa.json", first)
    feeds = f"  - id: bmkg-gempa\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
    accounts = "".join(
        f'\n  {a}: {{channel: x, name: "{a}", credential: x-{a}, regions: ["{code}"]}}' for a, code in ACCOUNTS.items()
    )
    extra = (
        f"district_points: {REGIONS}/district-points.csv\nplace_aliases: {REGIONS}/place-aliases.csv\n"
        f"x:\n  api_base: {fake_x.base}\n  read_timeout: 5\n"
    )
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
        (new,) = wait_for(lambda: sent("new"), what="the first post")
        assert "Kota Bitung" in new["text"] and "Manado" not in new["text"]
        before = text_posts(fake_x, "sulut")
        assert before and before[0].reply_to is None

        feed_server.serve("/gempa.json", felt)
        (extend,) = wait_for(lambda: sent("extend"), what="the update naming the felt regencies")
        assert extend["text"].startswith("UPDATE gempa M4.6") and "RALAT" not in extend["text"]
        assert "Kota Manado" in extend["text"] and "Kabupaten Minahasa" in extend["text"]
        assert "Kota Bitung" not in extend["text"].split("Dirasakan")[0]

        posts = text_posts(fake_x, "sulut")
        later = posts[len(before) :]
        # Counted at the fake X, part by part: the update arrived whole, once, as a reply in the
        # thread of the first post (each part answering the one before).
        assert later and later[0].reply_to == before[-1].id
        assert all(p.reply_to == q.id for q, p in itertools.pairwise(later))
        # Counted from what was sent, refusals included (X keeps no refused post): every part
        # of both posts was sent once and taken.
        sent = [a for a in fake_x.attempts_by("sulut") if not (a.text or "").startswith(MAP_REPLY)]
        assert [a.text for a in sent] == [p.text for p in posts] and all(a.post_id for a in sent)
        # A map that was late went as its own reply: one image, answering one of the posts, once.
        every = {p.id for p in fake_x.posts_by("sulut")}
        map_replies = [p for p in fake_x.posts_by("sulut") if (p.text or "").startswith(MAP_REPLY)]
        assert all(m.reply_to in every and len(m.media_ids) == 1 for m in map_replies)
        assert len({m.reply_to for m in map_replies}) == len(map_replies)
        assert "juga dirasakan di" in later[0].text
        # Maluku Utara's account had its own first post (Ternate is in reach) and the felt list
        # names nothing there it had not named: nothing more.
        (malut,) = text_posts(fake_x, "malut")
        assert "Kota Ternate" in malut.text and malut.reply_to is None
        assert [w["kind"] for w in history(cfg) if w["account"] == "sulut"].count("update") == 0
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(timeout=30)
