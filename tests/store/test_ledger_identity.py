"""Event identity across the traps of real feeds, on both store backends."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.conftest import sample
from warnd.model import ChangeKind, MsgType, Source
from warnd.pollers import cap, dsda_history, dsda_xml, usgs
from warnd.store.ledger import Ledger

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def observe(ledger, ev):
    with ledger.conn.transaction():
        return ledger.observe(ev, NOW)


def test_gauge_snapshots_repeat_go_back_and_move_on(store):
    ledger = Ledger(store.open())
    events = dsda_xml.parse(sample("gauges/dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml"), Source("x", NOW)).events
    gate = next(e for e in events if e.id == "gauge-dsda-116")
    assert observe(ledger, gate).kind is ChangeKind.NEW
    # The next poll returns the same snapshot: not a new observation.
    assert observe(ledger, replace(gate, feed="again")).kind is ChangeKind.UNCHANGED
    # A manual gauge's "latest" record flips back to an older reading: ignored.
    older = replace(gate, time=gate.time - timedelta(minutes=30), sent=gate.sent - timedelta(minutes=30), value=90.0)
    assert observe(ledger, older).kind is ChangeKind.UNCHANGED
    # A newer reading at the same level is an update; the level is carried.
    newer = replace(gate, time=gate.time + timedelta(minutes=10), sent=gate.sent + timedelta(minutes=10), value=85.0)
    change = observe(ledger, newer)
    assert change.kind is ChangeKind.UPDATED and change.previous.value == 40.0


def test_a_gate_read_from_its_history_keeps_the_position_and_name_of_the_snapshot(store):
    ledger = Ledger(store.open())
    events = dsda_xml.parse(sample("gauges/dsda-xmldata_2026-04-30T2350WIB_achmadnaufal.xml"), Source("x", NOW)).events
    gate = next(e for e in events if e.id == "gauge-dsda-122")
    url = "https://poskobanjir.dsdadki.web.id/Pages/GenerateDataTinggiAir.aspx?IdPintuAir=122&StartDate=06-09-2026"
    (history,) = dsda_history.parse(
        sample("gauges/dsda-history_id122_2026-09-06_trimmed_fakmalpradana.txt"), Source("h", NOW, url)
    ).events
    assert history.id == gate.id and history.lat is None and history.place is None
    observe(ledger, gate)
    change = observe(ledger, history)
    # The history's reading, the snapshot's position, name and river.
    assert change.kind is ChangeKind.UPDATED and change.event.value == 491.0 and change.event.feed == "h"
    kept = ledger.get(gate.id)
    assert kept is not None
    assert (kept.lat, kept.lon, kept.place, kept.event_name) == (-6.207825, 106.848458, "P.A. Manggarai 2", "Ciliwung")
    assert (kept.value, kept.time) == (491.0, history.time)


def test_cap_update_and_cancel_follow_references(store):
    ledger = Ledger(store.open())
    now = datetime(2026, 11, 24, 1, tzinfo=UTC)
    base = """<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>{id}</identifier>
<sender>ops@example.id</sender><sent>{sent}</sent><status>Actual</status><msgType>{mt}</msgType>
<scope>Public</scope>{refs}{info}</alert>"""
    info = """<info><category>Met</category><event>Hujan lebat</event><urgency>Expected</urgency>
<severity>{sev}</severity><certainty>Likely</certainty><headline>h</headline></info>"""
    first = base.format(
        id="A-1", sent="2026-11-24T07:00:00+07:00", mt="Alert", refs="", info=info.format(sev="Moderate")
    )
    update = base.format(
        id="A-2",
        sent="2026-11-24T07:30:00+07:00",
        mt="Update",
        refs="<references>ops@example.id,A-1,2026-11-24T07:00:00+07:00</references>",
        info=info.format(sev="Severe"),
    )
    cancel = base.format(
        id="A-3",
        sent="2026-11-24T07:45:00+07:00",
        mt="Cancel",
        refs="<references>ops@example.id,A-2,2026-11-24T07:30:00+07:00</references>",
        info="",
    )

    def ev(doc):
        (e,) = cap.parse(doc.encode(), Source("c", now)).events
        return e

    assert observe(ledger, ev(first)).kind is ChangeKind.NEW
    up = observe(ledger, ev(update))
    assert up.kind is ChangeKind.UPDATED and up.event.id == "cap-ops@example.id/A-1" and up.event.severity == "severe"
    # The cancel names A-2, which the ledger knows as an alias of A-1; it carries no info.
    gone = observe(ledger, ev(cancel))
    assert gone.kind is ChangeKind.CANCELLED and gone.event.id == "cap-ops@example.id/A-1"
    assert gone.event.msg_type is MsgType.CANCEL and gone.event.severity == "severe"
    assert ledger.count() == 1


def test_usgs_revision_and_preferred_id_switch(store):
    ledger = Ledger(store.open())
    early = usgs.parse(sample("usgs-geojson/usgs_2.5_day_2021-11-26T0113Z_dcardosos-f945c0a.geojson"), Source("u", NOW))
    late = usgs.parse(sample("usgs-geojson/usgs_2.5_day_2021-11-26T0628Z_dcardosos-69c02b0.geojson"), Source("u", NOW))
    a = next(e for e in early.events if e.id == "usgs-us7000fx45")
    b = next(e for e in late.events if e.id == "usgs-us7000fx45")
    assert observe(ledger, a).kind is ChangeKind.NEW
    assert observe(ledger, b).kind is ChangeKind.UPDATED
    # An older poll's copy arriving late never brings M6.1 back.
    assert observe(ledger, a).kind is ChangeKind.UNCHANGED
    # The network switches the preferred id; the old one is in `ids`.
    switched = replace(b, id="usgs-mm123", aliases=("usgs-us7000fx45",), sent=b.sent + timedelta(minutes=5))
    assert observe(ledger, switched).event.id == "usgs-us7000fx45"
    assert ledger.count() == 1


def test_automatic_solution_never_replaces_a_reviewed_bulletin(store):
    ledger = Ledger(store.open())
    from warnd.pollers import bmkg

    (tews,) = bmkg.parse(sample("bmkg-tews/autogempa_2024-01-10_sumedang_aldii.json"), Source("t", NOW)).events
    auto = replace(
        tews,
        id="x",
        feed_format="bmkg-realtime",
        magnitude=3.1,
        flags=("automatic",),
        time=tews.time + timedelta(seconds=1),
    )
    assert observe(ledger, tews).kind is ChangeKind.NEW
    assert observe(ledger, auto).kind is ChangeKind.UNCHANGED
    assert ledger.get(tews.id).magnitude == tews.magnitude


# The events table as the first release created it (no agency, no status).


def _flores_bmkg():
    from warnd.pollers import bmkg

    events = bmkg.parse(sample("bmkg-tews/gempaterkini_2021-12-14_flores-m7.4_arraysyams.json"), Source("t", NOW))
    return next(e for e in events.events if e.magnitude == 7.4)


def _flores_usgs():
    from tests.conftest import FLORES_BY_USGS, USGS_DAY, usgs_moved

    doc = usgs_moved(USGS_DAY, "us7000fx45", **FLORES_BY_USGS)
    return next(e for e in usgs.parse(doc, Source("u", NOW)).events if e.id == "usgs-us6000gc2a")


def test_another_agencys_copy_joins_the_bmkg_quake_and_never_changes_it(store):
    ledger = Ledger(store.open())
    ours, theirs = _flores_bmkg(), _flores_usgs()
    assert observe(ledger, ours).kind is ChangeKind.NEW
    change = observe(ledger, theirs)
    assert change.kind is ChangeKind.UNCHANGED and change.event.id == ours.id
    assert change.joined == theirs.id
    # Its next poll is not news again.
    assert observe(ledger, theirs).joined is None
    # USGS revises its solution: still BMKG's values, and its id is known from now on.
    revised = replace(theirs, magnitude=7.3, sent=theirs.sent + timedelta(hours=1))
    assert observe(ledger, revised).kind is ChangeKind.UNCHANGED
    assert ledger.get("usgs-us6000gc2a").id == ours.id
    assert ledger.get(ours.id).magnitude == 7.4 and ledger.get(ours.id).feed_format == "bmkg-tews"
    # GDACS's item of the quake (its recorded EQ item moved onto USGS's solution) joins too.
    from warnd.pollers import gdacs

    items = gdacs.parse(sample("gdacs-rss/gdacs_rss_2019-12-30_exxamalte.xml"), Source("g", NOW)).events
    eq = next(e for e in items if e.id == "gdacs-EQ1199929")
    moved = replace(eq, time=theirs.time.replace(microsecond=0), lat=theirs.lat, lon=theirs.lon)
    assert observe(ledger, moved).kind is ChangeKind.UNCHANGED
    assert ledger.count() == 1


def test_bmkg_takes_over_a_quake_first_known_from_usgs(store):
    ledger = Ledger(store.open())
    ours, theirs = _flores_bmkg(), _flores_usgs()
    assert observe(ledger, theirs).kind is ChangeKind.NEW
    change = observe(ledger, ours)
    assert change.kind is ChangeKind.UPDATED and change.event.id == theirs.id
    assert change.event.agency == "bmkg" and change.event.magnitude == 7.4
    assert change.previous is not None and change.previous.agency == "usgs"
    # From now on BMKG speaks for it: USGS's later revision changes nothing, BMKG's id finds it.
    later = replace(theirs, magnitude=7.5, sent=theirs.sent + timedelta(hours=1))
    assert observe(ledger, later).kind is ChangeKind.UNCHANGED
    assert ledger.get(ours.id).magnitude == 7.4
    assert observe(ledger, ours).kind is ChangeKind.UNCHANGED
    assert ledger.count() == 1


def test_one_origin_second_far_apart_is_two_quakes(store):
    from warnd.pollers import bmkg

    ledger = Ledger(store.open())
    terkini = bmkg.parse(sample("bmkg-tews/gempaterkini_2023-07-12_muhk01.json"), Source("t", NOW)).events
    aceh = next(e for e in terkini if e.id == "bmkg-eq-20230710T011904Z")
    jayapura = next(e for e in terkini if e.id == "bmkg-eq-20230707T042508Z")
    # Kabupaten Jayapura's epicentre at Aceh Barat's origin second, from BMKG and from USGS.
    same_second = replace(jayapura, id="bmkg-eq-x", time=aceh.time)
    other_agency = replace(same_second, id="usgs-x", feed_format="usgs-geojson")
    assert observe(ledger, aceh).kind is ChangeKind.NEW
    assert observe(ledger, same_second).kind is ChangeKind.NEW
    assert observe(ledger, other_agency).event.id == "bmkg-eq-x"
    assert ledger.count() == 2


# The origin second is the whole of a BMKG id: two quakes of one second are told apart by place.
ACEH_BARAT = "63 km BaratDaya MEULABOH"  # gempaterkini 2023-07-12: M5.2, 10 Jul 2023 01:19:04 UTC
JAILOLO = "Pusat gempa berada di laut 133 Km Barat laut Jailolo"  # gempadirasakan: M5.6, 21 Dec 2025
TERKINI = "gempaterkini_2023-07-12_muhk01.json"
DIRASAKAN = "gempadirasakan_2025-12-24_darcien.json"


def _tews(doc: bytes):
    from warnd.pollers import bmkg

    (event,) = bmkg.parse(doc, Source("t", NOW)).events
    return event


def _inatews(doc: bytes):
    from warnd.pollers import inatews

    (event,) = inatews.parse(doc, Source("i", NOW)).events
    return event


def test_a_quake_of_the_same_second_four_thousand_km_away_is_an_event_of_its_own(store):
    from tests.conftest import tews_doc, tews_entry, tews_moved
    from warnd.geo import haversine_km

    real = tews_entry(TERKINI, ACEH_BARAT)
    # Made from the real one: its origin second, magnitude and depth, its epicentre moved onto
    # Manokwari (Papua Barat).
    moved = tews_moved(real, -0.86, 134.06, "20 km Utara MANOKWARI-PAPUABRT")
    aceh, papua = _tews(tews_doc(real, "gempaterkini")), _tews(tews_doc(moved, "gempaterkini"))
    assert haversine_km(aceh.lat, aceh.lon, papua.lat, papua.lon) > 4000
    assert aceh.id == papua.id == "bmkg-eq-20230710T011904Z"

    ledger = Ledger(store.open())
    first, second = observe(ledger, aceh), observe(ledger, papua)
    assert first.kind is ChangeKind.NEW and first.event.id == "bmkg-eq-20230710T011904Z"
    assert second.kind is ChangeKind.NEW and second.event.id == "bmkg-eq-20230710T011904Z-0.9S134.1E"
    assert second.previous is None
    assert ledger.count() == 2
    # Each stays where it is.
    assert ledger.get(first.event.id).lat == 3.65 and ledger.get(second.event.id).lat == -0.86

    # After a restart, the next poll of both is news of neither, and each keeps its id.
    ledger = Ledger(store.open())
    assert [(c.kind, c.event.id) for c in (observe(ledger, aceh), observe(ledger, papua))] == [
        (ChangeKind.UNCHANGED, first.event.id),
        (ChangeKind.UNCHANGED, second.event.id),
    ]
    # BMKG revises the one in Papua, magnitude and place (0.4 deg south, further than two copies of
    # one report are apart, within what a revision under the same id may move): it is updated,
    # the one in Aceh is not touched.
    revised_entry = tews_moved(moved, -1.26, 134.06, moved["Wilayah"]) | {"Magnitude": "5.6"}
    change = observe(ledger, _tews(tews_doc(revised_entry, "gempaterkini")))
    assert change.kind is ChangeKind.UPDATED and change.event.id == second.event.id
    assert change.previous is not None and change.previous.magnitude == 5.2
    assert ledger.get(first.event.id).magnitude == 5.2 and ledger.get(second.event.id).magnitude == 5.6
    assert ledger.count() == 2


def test_the_same_quake_through_every_endpoint_is_one_event_beside_its_far_namesake(store):
    from tests.conftest import inatews_felt, tews_doc, tews_entry, tews_moved

    real = tews_entry(DIRASAKAN, JAILOLO)
    # Made from the real one: the same second, moved 3,400 km west onto Aceh Barat.
    moved = tews_moved(real, 4.14, 96.13, "Pusat gempa berada di darat 10 km Utara Aceh Barat")
    ledger = Ledger(store.open())
    terkini = observe(ledger, _tews(tews_doc(real, "gempaterkini")))
    namesake = observe(ledger, _tews(tews_doc(moved, "gempaterkini")))
    assert terkini.kind is namesake.kind is ChangeKind.NEW
    assert terkini.event.id == "bmkg-eq-20251221T122146Z" != namesake.event.id
    for endpoint in ("autogempa", "gempadirasakan"):
        for entry, known in ((real, terkini), (moved, namesake)):
            change = observe(ledger, _tews(tews_doc(entry, endpoint)))
            assert change.event.id == known.event.id, endpoint
            assert change.kind is not ChangeKind.NEW, endpoint
    for entry, known in ((real, terkini), (moved, namesake)):
        event = _inatews(inatews_felt(entry))
        assert event.id == "bmkg-eq-20251221T122146Z"
        change = observe(ledger, event)
        assert change.event.id == known.event.id and change.kind is not ChangeKind.NEW
    # The first felt list arrived with gempadirasakan: each quake has its own.
    assert [f.place for f in ledger.get(terkini.event.id).felt][:2] == ["Manado", "Bitung"]
    assert ledger.get(namesake.event.id).lat == 4.14
    assert ledger.count() == 2
