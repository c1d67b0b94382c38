"""Which tsunami zones a later message raised or lowered for an account, against the levels
the account last posted (pipeline.changes.zone_changes)."""

from datetime import UTC, datetime

from warnd.model import Priority, Region, Status, Warning, WarningKind, ZonePart
from warnd.pipeline.changes import zone_changes

NGADA = Region("53.09", "Kabupaten Ngada", "regency")
ENDE = Region("53.08", "Kabupaten Ende", "regency")


def post(*parts: ZonePart, kind: WarningKind = WarningKind.NEW, level: str | None = None) -> Warning:
    regions = tuple({p.code: NGADA if p.code == NGADA.code else ENDE for p in parts}.values()) or (NGADA,)
    return Warning(
        id="w",
        event_id="e",
        revision="r",
        rule="tsunami",
        account="a",
        kind=kind,
        severity=None,
        priority=Priority.LIFE_SAFETY,
        regions=regions,
        lang="id",
        text="t",
        status=Status.ACTUAL,
        created_at=datetime(2026, 8, 14, 22, tzinfo=UTC),
        level=level,
        zone_parts=parts,
    )


def test_a_level_up_is_raised_and_the_same_level_is_not():
    before = post(ZonePart("53.09", "waspada", "BAGIAN UTARA"))
    raised, lowered = zone_changes(before, [ZonePart("53.09", "siaga", "BAGIAN UTARA")])
    assert raised == (ZonePart("53.09", "siaga", "BAGIAN UTARA"),) and lowered == ()
    assert zone_changes(before, [ZonePart("53.09", "waspada", "BAGIAN UTARA")]) == ((), ())


def test_a_zone_not_posted_before_is_a_rise_from_nothing_even_in_a_region_already_warned():
    before = post(ZonePart("53.08", "siaga", "BAGIAN UTARA"))
    island = ZonePart("53.08", "waspada", "PULAU ENDE")
    raised, lowered = zone_changes(before, [ZonePart("53.08", "siaga", "BAGIAN UTARA"), island])
    assert raised == (island,) and lowered == ()


def test_a_zone_covering_the_whole_region_covers_its_parts():
    before = post(ZonePart("53.08", "siaga"))
    # A whole region narrowed to a part of it at the same level is neither raised nor lowered.
    assert zone_changes(before, [ZonePart("53.08", "siaga", "BAGIAN UTARA")]) == ((), ())
    raised, lowered = zone_changes(before, [ZonePart("53.08", "waspada")])
    assert raised == () and lowered == (ZonePart("53.08", "waspada"),)


def test_a_zone_dropped_is_lowered_to_nothing():
    before = post(ZonePart("53.09", "waspada", "BAGIAN UTARA"), ZonePart("53.08", "siaga"))
    raised, lowered = zone_changes(before, [ZonePart("53.08", "siaga")])
    assert raised == () and lowered == (ZonePart("53.09", "", "BAGIAN UTARA"),)


def test_after_an_all_clear_everything_is_a_rise():
    before = post(ZonePart("53.09", "awas"), kind=WarningKind.ALL_CLEAR)
    raised, _ = zone_changes(before, [ZonePart("53.09", "waspada")])
    assert raised == (ZonePart("53.09", "waspada"),)


def test_a_post_recorded_without_zones_counts_its_regions_whole_at_its_level():
    legacy = post(level="siaga")
    assert legacy.zone_parts == ()
    assert zone_changes(legacy, [ZonePart("53.09", "siaga", "BAGIAN UTARA")]) == ((), ())
    raised, _ = zone_changes(legacy, [ZonePart("53.09", "awas", "BAGIAN UTARA")])
    assert raised == (ZonePart("53.09", "awas", "BAGIAN UTARA"),)


def test_zones_survive_the_outbox_round_trip():
    w = post(ZonePart("53.09", "siaga", "BAGIAN UTARA"), ZonePart("53.08", "waspada", quoted="NTT/FOO"))
    assert Warning.from_json(w.to_json()) == w
    old = w.to_json()
    del old["zone_parts"]
    assert Warning.from_json(old).zone_parts == ()
