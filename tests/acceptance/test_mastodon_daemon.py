"""`warnd run` posting a recorded quake to a Mastodon account on the fake instance: the first
status, a kill -9, a restart, then BMKG's felt list as an update that replies in the first
status's thread. Counted at the fake: every text arrived once, and nothing was asked twice."""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator

import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import Daemon, wait_for
from tests.acceptance.test_felt_extend_daemon import RULES, documents
from tests.conftest import REGIONS, write_config
from warnd.testing.fake_mastodon import FakeMastodon

pytestmark = pytest.mark.acceptance

TOKEN = "tok-sulut-mastodon"


@pytest.fixture
def fake_mastodon(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMastodon]:
    # The token is the credential named in the config, read from the environment the daemon
    # inherits.
    monkeypatch.setenv("WARND_SECRET_MASTODON_SULUT", TOKEN)
    with FakeMastodon({TOKEN: "sulut"}, max_characters=500) as fake:
        yield fake


def test_a_recorded_quake_reaches_mastodon_once_across_a_kill_and_its_update_replies(
    tmp_path, feed_server, fake_mastodon
):
    first, felt = documents()
    url = feed_server.serve("/gempa.json", first)
    feeds = f"  - id: bmkg-gempa\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
    accounts = (
        '\n  sulut: {channel: mastodon, name: "Gempa Sulut", credential: mastodon-sulut,'
        f' instance: "{fake_mastodon.base}", regions: ["71"]}}'
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
        (new,) = wait_for(lambda: sent("new"), what="the first status")
        before = fake_mastodon.statuses_by("sulut")
        assert before and before[0].reply_to is None and before[0].language == "id"
        assert "Kota Bitung" in before[0].text and "Kota Bitung" in new["text"]
        # The start-up credential check went to the instance with the token (beside the first
        # post, not necessarily before it).
        wait_for(
            lambda: fake_mastodon.attempts_at("/api/v1/accounts/verify_credentials", "GET"),
            what="the start-up credential check",
        )
        d.stop(signal.SIGKILL)

        d = Daemon(cfg, tmp_path / "daemon.log")
        feed_server.serve("/gempa.json", felt)
        wait_for(lambda: sent("extend"), timeout=30, what="the update naming the felt regencies")
        statuses = fake_mastodon.statuses_by("sulut")
        # A map not drawn in time follows its post as a reply of its own ("Peta: ...", after the
        # delivery is done), whenever a loaded machine makes it late; the thread is the text.
        maps = [s for s in statuses if s.text.startswith("Peta:")]
        assert all(m.media_ids and m.reply_to in {s.id for s in statuses} for m in maps)
        texts = [s for s in statuses if s not in maps]
        first = [s for s in texts if "Kota Manado" not in s.text]
        later = texts[len(first) :]
        assert first and later and later[0].reply_to == first[-1].id
        assert all(p.reply_to == q.id for q, p in itertools.pairwise(later))
        assert "Kota Manado" in "".join(s.text for s in later)
        # Exactly once: every status made once, every post request made once (a repeat of a
        # request would show here even where the Idempotency-Key kept the instance from
        # posting it twice).
        texts = [s.text for s in statuses]
        assert len(texts) == len(set(texts))
        asked = fake_mastodon.attempts_at("/api/v1/statuses")
        assert len(asked) == len(statuses) and len({a.key for a in asked}) == len(asked)
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(timeout=30)
