"""`warnd run` posting to the fake Bluesky PDS with the shipped earthquake rules: a recorded
quake (M4.6 east of Bitung, BMKG's gempadirasakan of 18 Dec 2025), first without its felt list,
then with it. The account's first post arrives once, and the update naming the felt regencies
arrives once, as replies in the first post's thread: counted at the PDS, requests included."""

from __future__ import annotations

import itertools

import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import Daemon, wait_for
from tests.acceptance.test_felt_extend_daemon import RULES, documents
from tests.conftest import REGIONS, write_config
from warnd.testing.fake_bluesky import FakeBluesky

pytestmark = pytest.mark.acceptance

HANDLE = "bmkg-sulut.bsky.social"
PASSWORD = "abcd-efgh-ijkl-mnop"


def test_a_recorded_quake_and_its_update_reach_bluesky_exactly_once(tmp_path, feed_server, monkeypatch):
    monkeypatch.setenv("WARND_SECRET_BSKY_SULUT_APP_PASSWORD", PASSWORD)
    first, felt = documents()
    url = feed_server.serve("/gempa.json", first)
    feeds = f"  - id: bmkg-gempa\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
    with FakeBluesky({HANDLE: PASSWORD}) as pds:
        accounts = (
            f'\n  sulut: {{channel: bluesky, name: "sulut", handle: {HANDLE}, credential: bsky-sulut,'
            f' pds: "{pds.base}", regions: ["71"]}}'
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
            (new,) = wait_for(lambda: sent("new"), what="the first post")
            before = pds.posts_by(HANDLE)
            assert before[0].text.split("\n")[0] in new["text"]
            assert before and before[0].reply_parent is None
            assert "Kota Bitung" in before[0].text and before[0].value["langs"] == ["id"]

            feed_server.serve("/gempa.json", felt)
            (extend,) = wait_for(lambda: sent("extend"), what="the update naming the felt regencies")
            assert "Kota Manado" in extend["text"]
            posts = pds.posts_by(HANDLE)
            later = posts[len(before) :]
            assert later and all(p.reply_root == before[0].uri for p in later)
            # The correction answers the account's first post about the event (its anchor).
            assert later[0].reply_parent == before[0].uri
            assert all(p.reply_parent == q.uri for q, p in itertools.pairwise(later))
            # Exactly once, counted at the PDS: every request made a post, and no text twice.
            attempts = pds.attempts_by(HANDLE)
            assert [a.text for a in attempts] == [p.text for p in posts]
            assert all(a.status == 200 for a in attempts)
            assert len({p.text for p in posts}) == len(posts)
            assert pds.state.sessions == 1
            assert d.stop() == 0
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(timeout=30)
