"""`warnd run` polling BMKG, InaTEWS and USGS feeds on a loopback server and posting to a fake X:
one quake reported by two agencies is posted once, named after the agency whose values it shows.

The USGS documents are a recorded day feed with features moved onto USGS's solutions of the two
quakes (tests.conftest.usgs_moved: id, time and position fields only)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.acceptance.conftest import history
from tests.acceptance.test_daemon_end_to_end import Daemon, wait_for
from tests.conftest import FLORES_BY_USGS, MENTAWAI_BY_USGS, USGS_DAY, sample, usgs_moved, write_config
from warnd.testing.fake_x import FakeX

pytestmark = pytest.mark.acceptance

ACCOUNTS = {"ntt": "53", "sumbar": "13"}
RULES = """rules:
  - id: gempa-besar
    match:
      hazard: earthquake
      magnitude: ">= 5.8"
    where:
      within_km: 300
    then:
      accounts: ["*"]
"""


@pytest.fixture
def fake_x(fake_x_for: Callable[[list[str]], FakeX]) -> FakeX:
    return fake_x_for(list(ACCOUNTS))


def test_bmkg_and_usgs_reports_of_one_quake_post_once_each_named_after_its_agency(tmp_path, feed_server, fake_x):
    terkini = feed_server.serve(
        "/gempaterkini.json", sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json")
    )
    inatews = feed_server.serve("/datagempa.json", sample("bmkg-inatews/datagempa_2023-06-16_M5_fiji_arraysyams.json"))
    usgs = feed_server.serve("/usgs.geojson", sample(USGS_DAY))
    feeds = "".join(
        f"  - id: {name}\n    format: {fmt}\n    url: {url}\n    interval: 0.2\n"
        for name, fmt, url in (
            ("bmkg-gempaterkini", "bmkg-tews", terkini),
            ("bmkg-inatews-datagempa", "bmkg-inatews", inatews),
            ("usgs", "usgs-geojson", usgs),
        )
    )
    accounts = "".join(
        f'\n  {a}: {{channel: x, name: "{a}", credential: x-{a}, regions: ["{code}"]}}' for a, code in ACCOUNTS.items()
    )
    extra = f"x:\n  api_base: {fake_x.base}\n  read_timeout: 5\n"
    cfg = write_config(tmp_path, feeds=feeds, rules=RULES, accounts=accounts, extra=extra, replay=True)

    def polls_of(path: str, more: int) -> None:
        target = len(feed_server.hits(path)) + more
        wait_for(lambda: len(feed_server.hits(path)) >= target, what=f"{more} polls of {path}")

    def posted(account: str) -> list[dict]:
        """The account's warnings delivered to X, oldest first, each with its X post ids (a long
        one is a thread)."""
        done = []
        for w in reversed(history(cfg)):
            for x in w["deliveries"]:
                if x["target"] == f"account:{account}" and x["state"] == "sent":
                    done.append({**w, "remote_id": x["remote_id"]})
        return done

    d = Daemon(cfg, tmp_path / "daemon.log")
    try:
        # 1. BMKG's Flores M7.4 (14 Dec 2021): one post in NTT, BMKG's.
        (flores,) = wait_for(lambda: posted("ntt"), what="BMKG's Flores post")
        assert flores["kind"] == "new" and "M7.4" in flores["text"] and "Sumber: BMKG." in flores["text"]
        x_ids = warning_posts(fake_x, "ntt")
        assert flores["remote_id"] in x_ids

        # 2. USGS reports it too (M6.2 in the moved feature), and the Mentawai quake BMKG has not
        # reported yet: nothing more in NTT, USGS's Mentawai post in Sumatera Barat.
        both = usgs_moved(USGS_DAY, "us7000fx45", **FLORES_BY_USGS)
        both = usgs_moved(USGS_DAY, "us7000fx5p", base=both, **MENTAWAI_BY_USGS)
        feed_server.serve("/usgs.geojson", both)
        (mentawai,) = wait_for(lambda: posted("sumbar"), what="USGS's Mentawai post")
        assert mentawai["kind"] == "new" and mentawai["event_id"] == "usgs-us7000jvl3"
        assert "M5.8" in mentawai["text"] and "Sumber: USGS." in mentawai["text"]
        assert "tsunami" not in mentawai["text"].lower()
        polls_of("/usgs.geojson", 5)
        polls_of("/gempaterkini.json", 5)

        # 3. BMKG's felt message of the Mentawai quake: an update in the thread of USGS's post,
        # with BMKG's values, not a correction and not a second new post.
        felt = sample("bmkg-inatews/datagempa_2023-04-25_felt_mentawai-m7.3_arraysyams.json")
        feed_server.serve("/datagempa.json", felt)
        got = wait_for(lambda: posted("sumbar")[1:], what="BMKG's Mentawai update")
        (update,) = got
        assert update["kind"] == "update" and update["event_id"] == mentawai["event_id"]
        assert update["text"].startswith("INFO BMKG gempa 25 Apr 2023 03:00:57 WIB (info awal USGS")
        assert "M7.3" in update["text"] and "RALAT" not in update["text"]
        assert "Sumber: BMKG." in update["text"]
        (head,) = [p for p in fake_x.posts_by("sumbar") if p.id == update["remote_id"]]
        earlier = {p.id for p in fake_x.posts_by("sumbar") if p.at < head.at}
        assert head.reply_to in earlier and head.text.startswith("INFO BMKG")
        polls_of("/datagempa.json", 5)
        polls_of("/usgs.geojson", 5)
        assert [w["id"] for w in posted("ntt")] == [flores["id"]]
        assert [w["id"] for w in posted("sumbar")] == [mentawai["id"], update["id"]]
        assert warning_posts(fake_x, "ntt") == x_ids
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait(timeout=30)


def warning_posts(fake_x, account: str) -> set[str]:
    """The account's posts of warnings' texts: a map not drawn within the wait (a loaded machine)
    follows its post as a reply of its own, which is no second warning."""
    return {p.id for p in fake_x.posts_by(account) if not (p.reply_to and p.media_ids)}
