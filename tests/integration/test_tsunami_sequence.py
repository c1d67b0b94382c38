"""The Nagekeo M7.7 warning, message by message, through the real ledger: one tsunami event
whose state follows PD-1 -> PD-2 (revised to M7.7) -> PD-3.x -> PD-4."""

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from tests.conftest import sample
from warnd.model import ChangeKind, MsgType, Source
from warnd.pollers import inatews
from warnd.store.db import connect
from warnd.store.ledger import Ledger

NOW = datetime(2026, 11, 24, tzinfo=UTC)
NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def messages():
    """Each <info> of the history file as a document of its own, oldest first, as
    datagempa.json would have delivered them one poll at a time."""
    root = ET.fromstring(sample("bmkg-inatews/last30tsunamievent_2026-08-15_nagekeo-m7.7_ridwaanhall.xml"))
    infos = root.findall(NS + "info")
    out = []
    for info in reversed(infos):
        doc = ET.Element(root.tag)
        for el in root:
            if el.tag != NS + "info":
                doc.append(el)
        doc.append(info)
        out.append(ET.tostring(doc))
    return out


def test_nagekeo_sequence_is_one_event(tmp_path):
    ledger = Ledger(connect(tmp_path / "w.db"))
    seen = []
    for i, doc in enumerate(messages()):
        (ev,) = inatews.parse(doc, Source(f"msg{i}", NOW)).events
        with ledger.conn.transaction():
            change = ledger.observe(ev, NOW)
        seen.append((change.kind, change.event.id, ev.stage, ev.magnitude, len(ev.zones), len(ev.observations)))
    nagekeo = [s for s in seen if s[1] == seen[1][1]]
    stages = [s[2] for s in nagekeo]
    assert stages == ["PD-1", "PD-2", "PD-3.1", "PD-3.2", "PD-3.3", "PD-3.4", "PD-4"]
    kinds = [s[0] for s in nagekeo]
    assert kinds == [ChangeKind.NEW] + [ChangeKind.UPDATED] * 6
    # PD-1 was the automatic M7.0 with one zone (listed twice); PD-2 revised it to M7.7 with 22.
    assert nagekeo[0][3] == 7.0 and nagekeo[0][4] == 1
    assert nagekeo[1][3] == 7.7 and nagekeo[1][4] == 22
    # Observed heights grow from 3 to 10 tide gauges over PD-3.1 .. PD-3.4.
    assert nagekeo[2][5] == 3 and nagekeo[5][5] == 10
    final = ledger.get(nagekeo[0][1])
    assert final is not None and final.stage == "PD-4" and final.ended and final.msg_type is MsgType.UPDATE
    # The earlier event's PD-4 in the same file is another event.
    assert len({s[1] for s in seen}) == 2


def test_each_message_s_zones_are_the_regencies_named(tmp_path):
    """Which regencies, message by message: every zone of the sequence as the ledger keeps it,
    mapped to its Kemendagri regency (config/regions/codes.csv)."""
    from tests.conftest import REGIONS
    from warnd.geo import load_layers
    from warnd.rules.zones import ZoneMap

    zm = ZoneMap(load_layers([REGIONS / "provinces.geojson", REGIONS / "regencies.geojson"]))
    ledger = Ledger(connect(tmp_path / "w.db"))
    mapped = {}
    for i, doc in enumerate(messages()):
        (ev,) = inatews.parse(doc, Source(f"msg{i}", NOW)).events
        with ledger.conn.transaction():
            change = ledger.observe(ev, NOW)
        if change.event.zones:
            mapped[ev.stage] = {f"{z.district}": zm.region(z).code for z in change.event.zones}
    assert mapped["PD-1"] == {"NGADA BAGIAN UTARA": "53.09"}
    pd2 = {
        **{"MANGGARAI BAGIAN UTARA": "53.10", "NGADA BAGIAN UTARA": "53.09", "MANGGARAI-BARAT BAGIAN UTARA": "53.15"},
        **{"SELAYAR": "73.01", "ENDE BAGIAN UTARA": "53.08", "SIKKA BAGIAN UTARA": "53.07", "JENEPONTO": "73.04"},
        **{"BANTAENG": "73.03", "PULAU ENDE": "53.08", "PULAU SIKKA": "53.07", "BIMA PULAU SANGIANG": "52.06"},
        **{"BIMA PULAU GILI": "52.06", "KOTA-BIMA BAGIAN UTARA": "52.72", "FLORES-TIMUR BAGIAN UTARA": "53.06"},
        **{"DOMPU BAGIAN UTARA": "52.05", "KOTA-BAU-BAU": "74.72", "TAKALAR": "73.05", "BONE": "73.08"},
        **{"WAJO": "73.13", "LUWU BAGIAN TIMUR": "73.17", "LUWU BAGIAN UTARA": "73.17", "KOTA-PALOPO": "73.73"},
    }
    assert len(pd2) == 22
    for stage in ("PD-2", "PD-3.1", "PD-3.2", "PD-3.3", "PD-3.4"):
        assert mapped[stage] == pd2, stage


def test_a_stale_earlier_stage_never_replaces_a_later_one(tmp_path):
    ledger = Ledger(connect(tmp_path / "w.db"))
    docs = messages()
    pd2 = inatews.parse(docs[2], Source("a", NOW)).events[0]
    pd1 = inatews.parse(docs[1], Source("b", NOW)).events[0]
    assert (pd1.stage, pd2.stage) == ("PD-1", "PD-2")
    with ledger.conn.transaction():
        assert ledger.observe(pd2, NOW).kind is ChangeKind.NEW
        assert ledger.observe(pd1, NOW).kind is ChangeKind.UNCHANGED
    assert ledger.get(pd2.id).stage == "PD-2"


def test_exercise_never_merges_with_the_actual_warning(tmp_path):
    from dataclasses import replace

    from warnd.model import Status

    ledger = Ledger(connect(tmp_path / "w.db"))
    pd1 = inatews.parse(messages()[1], Source("a", NOW)).events[0]
    drill = replace(pd1, id=pd1.id + "-exercise", status=Status.EXERCISE)
    with ledger.conn.transaction():
        assert ledger.observe(drill, NOW).kind is ChangeKind.NEW
        assert ledger.observe(pd1, NOW).kind is ChangeKind.NEW
    assert ledger.count() == 2
