"""`warnd run` replaying the real Nagekeo M7.7 tsunami warning, message by message (PD-1, PD-2,
PD-3.1 .. PD-3.4, PD-4), to the fake X with the shipped tsunami rule. Successive updates list the
same regencies; for every account, every part of every post must arrive, once, in order, each
part a reply to the one before and each later post a reply in the thread of the account's first
post, with nothing refused. Counted at the fake X from what was sent to it, part by part,
refused attempts included (X keeps no refused post, so its list of posts cannot show a refusal).

Two real sources of the sequence: the demo's seven documents, and BMKG's last-30-events history
file cut into one document per message, oldest first (as datagempa.xml delivered them)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import Daemon, log_lines, wait_for
from tests.conftest import ROOT, write_config
from tests.integration.test_tsunami_sequence import messages
from warnd.channels.x import split
from warnd.testing.fake_x import FakeX

pytestmark = pytest.mark.acceptance

EVENT = "bmkg-tsunami-20260814T215823Z"
ACCOUNTS = {"ntt": "53", "ntb": "52", "sulsel": "73", "sultra": "74"}
RULES = (ROOT / "config" / "rules" / "tsunami.yaml").read_text()


def demo_documents() -> list[bytes]:
    return [p.read_bytes() for p in sorted((ROOT / "feeds" / "demo" / "nagekeo").iterdir())]


@pytest.mark.parametrize("documents", [demo_documents, messages], ids=["demo", "history-file"])
def test_every_part_of_every_nagekeo_post_reaches_x_in_its_thread(
    tmp_path: Path, feed_server, fake_x_for: Callable[[list[str]], FakeX], documents: Callable[[], list[bytes]]
) -> None:
    fake_x = fake_x_for(list(ACCOUNTS))
    docs = documents()
    url = feed_server.serve("/datagempa.xml", docs[0])
    feeds = f"  - id: inatews\n    format: bmkg-inatews\n    url: {url}\n    interval: 0.2\n"
    accounts = "".join(
        f'\n  {a}: {{channel: x, name: "{a}", credential: x-{a}, regions: ["{code}"]}}' for a, code in ACCOUNTS.items()
    )
    extra = f"x:\n  api_base: {fake_x.base}\n  read_timeout: 5\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES, accounts=accounts, extra=extra, replay=True)
    log = tmp_path / "daemon.log"

    def oldest_first() -> list[dict]:
        return history(cfg)[::-1]

    def changes() -> int:
        """Documents that changed an event (each message of the sequence is one change)."""
        return sum(ln["event"] in ("event.new", "event.updated") for ln in log_lines(log))

    def settled() -> bool:
        """Every X delivery issued so far has an outcome (sent or dead)."""
        return all(
            x["state"] in ("sent", "dead")
            for w in oldest_first()
            for x in w["deliveries"]
            if x["target"].startswith("account:")
        )

    d = Daemon(cfg, log)
    try:
        for i, doc in enumerate(docs):
            if i:
                feed_server.serve("/datagempa.xml", doc)
            # Each message is taken in and its posts have gone out before the next one arrives
            # (BMKG spaced them minutes apart).
            wait_for(lambda: changes() > i, timeout=30, what=f"document {i} taken in")  # noqa: B023
            wait_for(settled, timeout=60, what=f"the posts of document {i} delivered")
        assert changes() == len(docs)
        ws = [w for w in oldest_first() if w["event_id"] == EVENT]
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(timeout=30)

    assert {w["account"] for w in ws} == set(ACCOUNTS)
    for account in ACCOUNTS:
        mine = [w for w in ws if w["account"] == account]
        assert mine[0]["kind"] == "new" and mine[-1]["kind"] == "all_clear", account
        # What the account's posts are, part by part, in the order they were issued.
        threads = [split(w["text"], lang=w["lang"], label=w.get("thread_label")) for w in mine]
        expected = [part for parts in threads for part in parts]
        # Sulawesi Tenggara's one regency fits one post; the others' lists make threads.
        assert sum(len(t) > 1 for t in threads) >= (0 if account == "sultra" else 2), account
        every = fake_x.attempts_by(account)
        refused = [(a.status, a.text) for a in every if a.post_id is None]
        assert refused == [], account
        # A warning's map that was not ready within the wait follows its text as a reply of its
        # own (channels.x_media): each carries one image and answers a text post of the account
        # with its own label (its warning's last part: on a loaded machine the next warning may
        # be posted before it); none repeats. The text parts are judged apart from them.
        every_post = fake_x.posts_by(account)
        by_id = {p.id: p for p in every_post}
        maps = [p for p in every_post if (p.text or "").startswith("Peta: ")]
        for m in maps:
            answered = by_id.get(m.reply_to or "")
            # Its words are the headline of the post it answers (and the thread label, if any).
            headline = (m.text or "")[len("Peta: ") :]
            assert not (answered.text or "").startswith("Peta: "), (account, m.text)
            # It answers the thread's last part, whose first line is the headline, shortened, with
            # "(lanjutan)" after it when that part is not the first.
            first_line = (answered.text or "").split("\n", 1)[0].split("…", 1)[0].removesuffix(" (lanjutan)")
            # Either may be the shorter: the map's words are cut ("…") to leave room for its label.
            shown = headline.split("…", 1)[0]
            assert headline.startswith(first_line) or first_line.startswith(shown), (account, m.text)
        assert len({m.text for m in maps}) == len(maps) <= len(mine), account
        attempts = [a for a in every if not (a.text or "").startswith("Peta: ")]
        # Every part sent once, accepted, in order: nothing refused, nothing missing, nothing twice.
        assert [a.text for a in attempts] == expected, account
        posts = [p for p in every_post if p not in maps]
        assert [p.text for p in posts] == expected, account
        # The thread: the first post answers nothing; every other part answers the part before
        # within its post; every later post answers the account's first post.
        at = 0
        for n, (w, parts) in enumerate(zip(mine, threads, strict=True)):
            mine_posts = posts[at : at + len(parts)]
            at += len(parts)
            (delivery,) = [x for x in w["deliveries"] if x["target"] == f"account:{account}"]
            assert delivery["state"] == "sent" and delivery["remote_id"] == mine_posts[0].id, (account, n)
            assert mine_posts[0].reply_to == (posts[0].id if n else None), (account, n)
            for before, part in itertools.pairwise(mine_posts):
                assert part.reply_to == before.id, (account, n)
    # The PD-3.3 update's regency lists reached Nusa Tenggara Timur's readers under its label.
    ntt = [p.text for p in fake_x.posts_by("ntt")]
    assert any(
        t.startswith("TSUNAMI TERDETEKSI") and "SIAGA: Kabupaten Manggarai" in t and " PD-3.3 " in t for t in ntt
    )
    assert not any(ln["event"] == "delivery.duplicate_refused" for ln in log_lines(log))
