"""Old news and the daemon as a real subprocess, on its real clock: a real gempaterkini list met
with a new store is recorded and posts nothing (said once, in the log); a quake added to it is
posted; an old one added to it never is; a restart does not take the baseline again. The demo,
which replays recorded documents as current, still posts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.acceptance.test_daemon_end_to_end import Daemon, log_lines, posts, wait_for
from tests.conftest import REGIONS, ROOT, sample, tews_list, tews_retimed, write_config

pytestmark = pytest.mark.acceptance

ITEMS = json.loads(sample("bmkg-tews/gempaterkini_2023-07-12_muhk01.json"))["Infogempa"]["gempa"]
(BANTUL,) = [g for g in ITEMS if g["Wilayah"].endswith("BANTUL-DIY")]  # M6.4, 30 Jun 2023
(SUMBAWA,) = [g for g in ITEMS if g["Wilayah"].endswith("SUMBAWA-NTB")]  # M5.0, 1 Jul 2023
ACCOUNTS = "".join(
    f'\n  {name}: {{channel: file, path: {{folder}}/posts.jsonl, name: "{name}", regions: ["{code}"]}}'
    for name, code in (("jateng", "33"), ("diy", "34"), ("jatim", "35"), ("ntb", "52"), ("ntt", "53"))
)


def test_a_new_store_records_the_list_posts_nothing_then_posts_only_what_is_new(tmp_path, feed_server):
    url = feed_server.serve("/gempaterkini.json", tews_list(*ITEMS))
    feeds = f"  - id: bmkg-gempaterkini\n    format: bmkg-tews\n    url: {url}\n    interval: 0.2\n"
    cfg = write_config(
        tmp_path,
        feeds=feeds,
        rules=(ROOT / "config" / "rules" / "gempa.yaml").read_text(),
        accounts=ACCOUNTS.replace("{folder}", str(tmp_path)),
        extra=f"district_points: {REGIONS}/district-points.csv\n",
    )
    log = tmp_path / "daemon.log"
    d = Daemon(cfg, log)
    try:
        # 1. The 15 quakes of 2023 are the feed's baseline: recorded, said once, none posted.
        (baseline,) = wait_for(
            lambda: [x for x in log_lines(log) if x["event"] == "feed.baseline"], what="the baseline"
        )
        assert baseline["feed"] == "bmkg-gempaterkini" and baseline["events"] == 15 and baseline["warnings"] == 0
        held = [x for x in log_lines(log) if x["event"] == "event.too_old"]
        assert len(held) == baseline["held"] > 0
        assert all(x["reason"] == "baseline" and x["event_id"].startswith("bmkg-eq-2023") for x in held)
        wait_for(lambda: len(feed_server.hits("/gempaterkini.json")) >= 5, what="more polls")
        assert posts(tmp_path) == []

        # 2. A quake BMKG adds to the list: the real Bantul M6.4 as if it struck a minute ago.
        fresh = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        feed_server.serve("/gempaterkini.json", tews_list(tews_retimed(BANTUL, fresh), *ITEMS[:-1]))
        # Each account's sender writes its own post: wait for both before judging them, not for the
        # first one to land.
        got = wait_for(
            lambda: (g := posts(tmp_path)) and {"diy", "jateng"} <= {p["account"] for p in g} and g,
            what="the new quake's posts at both accounts",
        )
        new_id = "bmkg-eq-" + fresh.strftime("%Y%m%dT%H%M%SZ")
        assert {p["event_id"] for p in got} == {new_id}
        assert {"diy", "jateng"} <= {p["account"] for p in got}
        assert all(p["kind"] == "new" and "Gempa M6.4" in p["text"] for p in got)
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    posted = posts(tmp_path)

    # 3. Restarted on the same state: the feed has a history, so no second baseline; an old quake
    # that appears in it (three hours old) is recorded and never posted, with its reason.
    late = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    late_id = "bmkg-eq-" + late.strftime("%Y%m%dT%H%M%SZ")
    feed_server.serve(
        "/gempaterkini.json", tews_list(tews_retimed(BANTUL, fresh), tews_retimed(SUMBAWA, late), *ITEMS[:-2])
    )
    d = Daemon(cfg, log)
    try:
        (stale,) = wait_for(
            lambda: [x for x in log_lines(log) if x["event"] == "event.too_old" and x["event_id"] == late_id],
            what="the old quake's reason",
        )
        assert stale["reason"] == "stale" and "past max_age 1h" in stale["detail"]
        polls = len(feed_server.hits("/gempaterkini.json"))
        wait_for(lambda: len(feed_server.hits("/gempaterkini.json")) >= polls + 5, what="more polls")
        assert d.stop() == 0
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
    assert posts(tmp_path) == posted
    assert len([x for x in log_lines(log) if x["event"] == "feed.baseline"]) == 1
    # The old quake is known: the ledger has it.
    from warnd.store.db import connect
    from warnd.store.ledger import Ledger

    conn = connect(tmp_path / "state" / "warnd.db")
    try:
        assert Ledger(conn).get(late_id) is not None
    finally:
        conn.close()


# What the demo posts, as the README describes it: 49 quake warnings, the Nagekeo tsunami
# warning to the four provinces whose coast it reached, and the Jakarta water gates.
DEMO_POSTS = 84
TSUNAMI = "bmkg-tsunami-20260814T215823Z"
MANGGARAI = "gauge-dsda-122"


def _run_demo(demo, log, *args):
    return subprocess.Popen(
        [sys.executable, "-m", "warnd.cli", "run", "-c", str(demo), *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_the_demo_replays_its_recorded_documents_as_current(tmp_path):
    # The demo as shipped, in a folder of its own (its state goes beside its config folder).
    (tmp_path / "config").mkdir()
    (tmp_path / "feeds").mkdir()
    for part in ("regions", "rules", "demo-rules", "templates"):
        (tmp_path / "config" / part).symlink_to(ROOT / "config" / part)
    (tmp_path / "feeds" / "demo").symlink_to(ROOT / "feeds" / "demo")
    demo = tmp_path / "config" / "demo.yaml"
    demo.write_text((ROOT / "config" / "demo.yaml").read_text())
    log = tmp_path / "daemon.log"
    proc = _run_demo(demo, log)
    out = tmp_path / "state" / "demo"
    try:
        # Every warning the README promises, from documents of 2021 to 2026.
        wait_for(lambda: len(posts(out)) >= DEMO_POSTS, timeout=90, what=f"the demo's {DEMO_POSTS} warnings")
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    got = posts(out)
    assert len(got) == DEMO_POSTS
    assert {p["event_id"][:12] for p in got} == {"bmkg-eq-2021", "bmkg-eq-2025", "bmkg-tsunami", "gauge-dsda-1"}
    assert sum(p["event_id"].startswith("bmkg-eq-") for p in got) == 49
    lines = log_lines(log)
    assert [x["event"] for x in lines if x["event"] == "daemon.replay"] == ["daemon.replay"]
    assert not [x for x in lines if x["event"] in ("feed.baseline", "event.too_old")]

    # The tsunami warning, message by message (PD-3.4 adds nothing for any account): the warning,
    # its escalation where PD-2 raised zones, the observed heights and the end, to each province
    # whose coast is in the zones, naming only its own regencies.
    tsunami: dict[str, list[dict]] = {}
    for p in got:
        if p["event_id"] == TSUNAMI:
            tsunami.setdefault(p["account"], []).append(p)
    later = ["update"] * 3 + ["all_clear"]
    assert {a: [p["kind"] for p in ps] for a, ps in tsunami.items()} == {
        "gempa-nusa-tenggara-timur": ["new", "escalate", *later],
        "gempa-nusa-tenggara-barat": ["new", *later],
        "gempa-sulawesi-selatan": ["new", *later],
        "gempa-sulawesi-tenggara": ["new", *later],
    }
    prefix = {"gempa-nusa-tenggara-timur": "53", "gempa-nusa-tenggara-barat": "52"}
    prefix |= {"gempa-sulawesi-selatan": "73", "gempa-sulawesi-tenggara": "74"}
    for account, ps in tsunami.items():
        assert all(r["code"].startswith(prefix[account]) for p in ps for r in p["regions"]), account
        assert all(p["priority"] == "life_safety" and p["zone_parts"] for p in ps), account
    ntt = tsunami["gempa-nusa-tenggara-timur"]
    assert [p["thread_label"] for p in ntt] == ["PD-1", "PD-2", "PD-3.1", "PD-3.2", "PD-3.3", "PD-4"]
    assert "WASPADA: Kabupaten Ngada bagian utara." in ntt[0]["text"]
    assert ntt[1]["text"].startswith("NAIK KE SIAGA: peringatan dini tsunami untuk Kabupaten Manggarai bagian utara")
    assert all("TSUNAMI TERDETEKSI" in p["text"] for p in ntt[2:5])
    assert ntt[-1]["text"].startswith("PERINGATAN DINI TSUNAMI BERAKHIR")

    # P.A. Manggarai up through Siaga 3, 2 and 1 and back to normal, to the Jakarta account only.
    gate = [p for p in got if p["event_id"] == MANGGARAI]
    assert {p["account"] for p in gate} == {"gempa-jakarta"}
    assert [(p["kind"], p["level"]) for p in gate] == [
        ("new", "siaga3"),
        ("escalate", "siaga2"),
        ("escalate", "siaga1"),
        ("deescalate", "siaga2"),
        ("deescalate", "siaga3"),
        ("all_clear", "normal"),
    ]
    assert all(p["regions"][0]["name"].startswith("Kota Administrasi Jakarta") for p in gate)
    assert "P.A. Manggarai 2 953 cm, kini SIAGA 1" in gate[2]["text"]
    assert "kembali NORMAL: 726 cm" in gate[-1]["text"]
    # The real snapshot's other gates above normal, each posted once, by the account of its area.
    others = [p for p in got if p["event_id"].startswith("gauge-") and p["event_id"] != MANGGARAI]
    assert len(others) == len({p["event_id"] for p in others}) == 8
    assert all(p["kind"] == "new" and p["level"] in ("siaga3", "siaga2") for p in others)

    # A second run posts nothing: every feed, the sequences too, is where the first run left it.
    proc = _run_demo(demo, log, "--log-level", "debug")
    try:
        wait_for(
            lambda: (
                {"demo-inatews", "demo-dsda"}
                <= {x.get("feed") for x in log_lines(log)[len(lines) :] if x["event"] == "feed.not_modified"}
            ),
            timeout=60,
            what="both sequences polled again",
        )
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(posts(out)) == DEMO_POSTS
