"""Old news through the daemon's poll path (real Poller, SQLite store, metrics): a real gempaterkini
list met with no memory of its feed is its baseline (recorded, nothing posted, said once); a quake
added to it afterwards is posted; an old quake appearing in a feed with history is recorded and
never posted, with its reason."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import REGIONS, ROOT, tews_list, tews_retimed
from tests.integration.rig import Rig
from warnd.store.ledger import Ledger

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# The 15 M5+ quakes BMKG listed on 12 Jul 2023 (20 Jun to 12 Jul 2023), newest first.
TERKINI = json.loads((ROOT / "feeds/samples/bmkg-tews/gempaterkini_2023-07-12_muhk01.json").read_bytes())
ITEMS: list[dict[str, Any]] = TERKINI["Infogempa"]["gempa"]
(BANTUL,) = [g for g in ITEMS if g["Wilayah"].endswith("BANTUL-DIY")]  # M6.4, 30 Jun 2023
(SUMBAWA,) = [g for g in ITEMS if g["Wilayah"].endswith("SUMBAWA-NTB")]  # M5.0, 1 Jul 2023
ACCOUNTS = "".join(
    f'\n  {name}: {{channel: file, path: {{folder}}/posts.jsonl, name: "{name}", regions: ["{code}"]}}'
    for name, code in (("jateng", "33"), ("diy", "34"), ("jatim", "35"), ("ntb", "52"), ("ntt", "53"))
)


def rig(tmp_path: Any, url: str, feed_extra: str = "") -> Rig:
    return Rig(
        tmp_path,
        feed="bmkg-gempaterkini",
        fmt="bmkg-tews",
        url=url,
        rules=(ROOT / "config" / "rules" / "gempa.yaml").read_text(),
        accounts=ACCOUNTS.replace("{folder}", str(tmp_path)),
        now=NOW,
        extra=f"district_points: {REGIONS}/district-points.csv\n",
        feed_extra=feed_extra,
    )


def suppressed(r: Rig, reason: str) -> float:
    return r.metrics.registry.get_sample_value("warnd_warnings_suppressed_total", {"reason": reason}) or 0.0


def test_a_list_met_without_memory_is_its_baseline_then_a_new_quake_posts_and_an_old_one_never(
    tmp_path, feed_server, logs
):
    url = feed_server.serve("/gempaterkini.json", tews_list(*ITEMS))
    r = rig(tmp_path, url)
    ledger = Ledger(r.conn)

    # 1. First poll, a new store: the 15 quakes of 2023 are recorded, none posted, said once.
    r.poll()
    assert r.warnings == []
    assert ledger.count() == 15
    (baseline,) = [e for e in logs if e["event"] == "feed.baseline"]
    assert baseline["feed"] == "bmkg-gempaterkini" and baseline["events"] == 15
    old = [e for e in logs if e["event"] == "event.too_old"]
    # Every quake a rule matched (the ones felt in one of the five provinces) says why, by its id.
    assert old and baseline["held"] == len(old)
    assert all(e["reason"] == "baseline" and e["feed"] == "bmkg-gempaterkini" for e in old)
    assert {e["event_id"] for e in old} >= {"bmkg-eq-20230630T125743Z", "bmkg-eq-20230701T184418Z"}
    assert "origin time 2023-06-30T12:57:43+00:00" in next(
        e["detail"] for e in old if e["event_id"] == "bmkg-eq-20230630T125743Z"
    )
    assert suppressed(r, "baseline") >= len(old)
    assert r.metrics.registry.get_sample_value("warnd_polls_total", {"feed": r.feed, "outcome": "ok"}) == 1

    # 2. BMKG lists a new quake: the real Bantul M6.4, as if it had struck two minutes ago.
    r.clock.set(NOW + timedelta(seconds=30))
    fresh = NOW - timedelta(minutes=2)
    feed_server.serve("/gempaterkini.json", tews_list(tews_retimed(BANTUL, fresh), *ITEMS[:-1]))
    r.poll()
    new_id = "bmkg-eq-" + fresh.strftime("%Y%m%dT%H%M%SZ")
    assert r.warnings and {w.event_id for w in r.warnings} == {new_id}
    assert {w.account for w in r.warnings} >= {"diy", "jateng"}
    assert all(w.kind.value == "new" and "Gempa M6.4" in w.text for w in r.warnings)
    # Said once per feed: the feed has a history now.
    assert len([e for e in logs if e["event"] == "feed.baseline"]) == 1

    # 3. An old quake appears in the list of a feed with history (three hours old, past the
    # hour): recorded, so it is known from now on, and never posted.
    posted = len(r.warnings)
    r.clock.set(NOW + timedelta(seconds=60))
    late = NOW - timedelta(hours=3)
    feed_server.serve(
        "/gempaterkini.json", tews_list(tews_retimed(BANTUL, fresh), tews_retimed(SUMBAWA, late), *ITEMS[:-2])
    )
    r.poll()
    late_id = "bmkg-eq-" + late.strftime("%Y%m%dT%H%M%SZ")
    assert len(r.warnings) == posted
    assert ledger.get(late_id) is not None
    (stale,) = [e for e in logs if e["event"] == "event.too_old" and e["event_id"] == late_id]
    assert stale["reason"] == "stale" and "is 3h01m old, past max_age 1h" in stale["detail"]
    assert suppressed(r, "stale") >= 1


def test_a_feed_max_age_decides_what_is_still_news(tmp_path, feed_server, logs):
    # The Sumbawa M5.0 as if it struck three hours ago, in a feed that keeps quakes for four.
    late = NOW - timedelta(hours=3)
    url = feed_server.serve("/gempaterkini.json", tews_list(tews_retimed(SUMBAWA, late)))
    r = rig(tmp_path, url, feed_extra="max_age: 4h")
    r.poll()
    assert {w.account for w in r.warnings} == {"ntb"}
    assert not [e for e in logs if e["event"] == "event.too_old"]
    (baseline,) = [e for e in logs if e["event"] == "feed.baseline"]
    assert baseline["held"] == 0 and baseline["warnings"] == 1
