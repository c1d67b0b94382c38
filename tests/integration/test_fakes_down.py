"""The fakes' `down`: the platform answering every request with a server error, taking nothing,
until it is back. The outage campaign counts on it: a post that arrived while a fake was "down"
would pass for warnd posting through an outage."""

from __future__ import annotations

import httpx

from warnd.testing.fake_bluesky import FakeBluesky
from warnd.testing.fake_mastodon import FakeMastodon
from warnd.testing.fake_telegram import FakeTelegram

TOKEN = "7000003:AAH-down"


def test_telegram_down_takes_no_message_and_records_the_attempt() -> None:
    with FakeTelegram({TOKEN: "bot"}, {"bot": ["@gempa_uji"]}) as tg:
        url = f"{tg.base}/bot{TOKEN}/sendMessage"
        tg.down = 503
        r = httpx.post(url, json={"chat_id": "@gempa_uji", "text": "uji 1"})
        assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
        assert tg.messages_in("@gempa_uji") == [] and [a.status for a in tg.attempts_in("@gempa_uji")] == [503]
        tg.down = None
        assert httpx.post(url, json={"chat_id": "@gempa_uji", "text": "uji 1"}).status_code == 200
        assert [m.text for m in tg.messages_in("@gempa_uji")] == ["uji 1"]


def test_mastodon_down_makes_no_status_and_keeps_a_scripted_fault_for_later() -> None:
    with FakeMastodon({"tok": "uji"}) as masto:
        url = f"{masto.base}/api/v1/statuses"
        auth = {"Authorization": "Bearer tok"}
        masto.fail("/api/v1/statuses", 500)
        masto.down = 503
        assert httpx.post(url, json={"status": "uji 1"}, headers=auth).status_code == 503
        assert httpx.get(f"{masto.base}/api/v2/instance").status_code == 503
        assert masto.statuses_by("uji") == [] and len(masto.attempts_at("/api/v1/statuses")) == 1
        masto.down = None
        assert httpx.post(url, json={"status": "uji 1"}, headers=auth).status_code == 500
        assert httpx.post(url, json={"status": "uji 1"}, headers=auth).status_code == 200
        assert [s.text for s in masto.statuses_by("uji")] == ["uji 1"]


def test_bluesky_down_stores_no_record_and_records_the_attempt() -> None:
    with FakeBluesky({"uji.bsky.social": "pw"}) as pds:
        session = httpx.post(
            f"{pds.base}/xrpc/com.atproto.server.createSession",
            json={"identifier": "uji.bsky.social", "password": "pw"},
        ).json()
        auth = {"Authorization": f"Bearer {session['accessJwt']}"}
        record = {
            "repo": session["did"],
            "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": "uji 1", "createdAt": "2026-11-30T00:00:00Z"},
        }
        url = f"{pds.base}/xrpc/com.atproto.repo.createRecord"
        pds.down = 503
        assert httpx.post(url, json=record, headers=auth).status_code == 503
        assert httpx.get(f"{pds.base}/xrpc/com.atproto.server.getSession", headers=auth).status_code == 503
        assert pds.posts_by("uji.bsky.social") == []
        assert [a.status for a in pds.attempts_by("uji.bsky.social")] == [503]
        pds.down = None
        assert httpx.post(url, json=record, headers=auth).status_code == 200
        assert [p.text for p in pds.posts_by("uji.bsky.social")] == ["uji 1"]
