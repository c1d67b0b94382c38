"""A tsunami warning zone whose name matches no regency, through the daemon's path: polled from a
loopback server, ingested into a real SQLite store with the shipped tsunami rule. The province
BMKG named carries the warning, quoting the zone; it is logged, counted, and raised as one
operator notice per zone name however many polls repeat it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.conftest import ROOT
from tests.integration.rig import Rig
from warnd.store.notices import Notices
from warnd.store.zones import ZoneMisses

NAGEKEO = ROOT / "feeds" / "demo" / "nagekeo"
# The real PD-1 and PD-2 of the Nagekeo warning with Ngada's zone renamed to a name no regency has.
MADE_UP = "TELUK KHAYALAN BAGIAN UTARA"
PD1_SENT = datetime(2026, 8, 14, 22, 0, 37, tzinfo=UTC)
PD2_SENT = datetime(2026, 8, 14, 22, 9, 54, tzinfo=UTC)
ACCOUNTS = "".join(
    f'\n  {name}: {{channel: file, path: {{folder}}/posts.jsonl, name: "{name}", regions: ["{code}"]}}'
    for name, code in (("ntt", "53"), ("ntb", "52"), ("sulsel", "73"), ("sultra", "74"), ("jabar", "32"))
)


def doc(name: str) -> bytes:
    text = (NAGEKEO / name).read_text()
    assert "NGADA BAGIAN UTARA" in text
    return text.replace("NGADA BAGIAN UTARA", MADE_UP).encode()


def rig_for(tmp_path, url) -> Rig:
    rules = (ROOT / "config" / "rules" / "tsunami.yaml").read_text()
    accounts = ACCOUNTS.replace("{folder}", str(tmp_path))
    return Rig(
        tmp_path,
        feed="tsunami",
        fmt="bmkg-inatews",
        url=url,
        rules=rules,
        accounts=accounts,
        now=PD1_SENT + timedelta(seconds=5),
    )


def test_an_unmapped_zone_reaches_its_province_account_quoted_logged_counted_and_noticed_once(
    tmp_path, feed_server, logs
):
    url = feed_server.serve("/datagempa.xml", doc("1_PD-1.xml"))
    rig = rig_for(tmp_path, url)
    rig.poll()

    # PD-1 had one zone: without the stand-in the warning would have vanished.
    (w,) = rig.warnings
    assert w.account == "ntt" and w.rule == "tsunami"
    assert [r.code for r in w.regions] == ["53"]
    assert f'WASPADA: Nusa Tenggara Timur (zona "{MADE_UP}")' in w.text
    (line,) = [e for e in logs if e["event"] == "zone.unmapped"]
    logs.clear()
    assert line["zone"] == f"NTT/{MADE_UP}" and line["event_id"] == w.event_id and line["log_level"] == "warning"
    assert rig.counted("warnd_zones_unmapped_total") == 1
    (miss,) = ZoneMisses(rig.conn).since(PD1_SENT)
    assert (miss.province, miss.district, miss.event_id, miss.seen) == ("NTT", MADE_UP, w.event_id, 1)

    (c,) = rig.reconcile("zone_unmapped")
    assert c.subject == f"NTT/{MADE_UP}" and c.severity == "degraded" and w.event_id in c.message
    assert rig.metrics.registry.get_sample_value("warnd_notices_total", {"kind": "zone_unmapped"}) == 1

    # PD-2 names the zone again, among 21 that map: the others go to their regencies, the zone
    # is quoted again, counted again, and the notice stays the one already raised.
    feed_server.serve("/datagempa.xml", doc("2_PD-2.xml"))
    rig.clock.set(PD2_SENT + timedelta(seconds=5))
    rig.poll()
    by_account = {w.account: w for w in rig.warnings[1:]}
    assert set(by_account) == {"ntt", "ntb", "sulsel", "sultra"}
    ntt = by_account["ntt"]
    assert "53" in [r.code for r in ntt.regions] and f'Nusa Tenggara Timur (zona "{MADE_UP}")' in ntt.text
    assert "Kabupaten Ngada" not in ntt.text and "Kabupaten Manggarai bagian utara" in ntt.text
    assert [e["zone"] for e in logs if e["event"] == "zone.unmapped"] == [f"NTT/{MADE_UP}"]
    assert rig.counted("warnd_zones_unmapped_total") == 2
    assert len(rig.reconcile("zone_unmapped")) == 1
    active = [key for key in Notices(rig.conn).active() if key.startswith("zone_unmapped:")]
    assert active == [f"zone_unmapped:NTT/{MADE_UP}"]
    assert rig.metrics.registry.get_sample_value("warnd_notices_total", {"kind": "zone_unmapped"}) == 1

    # A day after a warning last named it, the notice clears.
    rig.clock.set(PD2_SENT + timedelta(days=1, minutes=1))
    assert rig.reconcile("zone_unmapped") == []
    (cleared,) = [n for n in Notices(rig.conn).recent(1000) if n.kind == "zone_unmapped"]
    assert cleared.cleared_at is not None and "zone_unmapped:" + cleared.subject not in Notices(rig.conn).active()


def test_every_mapped_zone_of_the_real_pd2_raises_nothing(tmp_path, feed_server):
    url = feed_server.serve("/datagempa.xml", (NAGEKEO / "2_PD-2.xml").read_bytes())
    rig = rig_for(tmp_path, url)
    rig.clock.set(PD2_SENT + timedelta(seconds=5))
    rig.poll()
    assert {w.account for w in rig.warnings} == {"ntt", "ntb", "sulsel", "sultra"}
    assert rig.counted("warnd_zones_unmapped_total") == 0 and rig.reconcile("zone_unmapped") == []
    assert json.dumps([w.to_json() for w in rig.warnings]).count("zona") == 0
