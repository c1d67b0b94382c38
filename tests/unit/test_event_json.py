"""A stored event reads back as the event: what the outbox keeps beside a warning is what a
partner's webhook carries after a restart, so `HazardEvent.from_json(e.to_json())` must be `e`
for every event a real document gives."""

import gzip
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLES
from warnd.model import HazardEvent, Source
from warnd.pollers.registry import detect

NOW = datetime(2026, 11, 29, tzinfo=UTC)
# CAP alerts expired by NOW give no event; read at a clock before any of them expired they do.
EARLY = datetime(2013, 1, 1, tzinfo=UTC)
REAL = sorted(
    p
    for folder in (SAMPLES, ROOT / "feeds" / "demo")
    for p in folder.rglob("*")
    if p.is_file() and p.suffix not in (".md", ".xsd")
)


def events(path: Path) -> list[HazardEvent]:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return [ev for now in (NOW, EARLY) for ev in detect(data, Source("real", now, str(path)))[1].events]


@pytest.mark.parametrize("path", REAL, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_real_event_reads_back_from_its_json_as_it_was(path: Path) -> None:
    for ev in events(path):
        stored = json.loads(json.dumps(ev.to_json()))
        assert HazardEvent.from_json(stored) == ev
        assert HazardEvent.from_json(stored).to_json() == ev.to_json()


def test_the_samples_give_events_of_every_hazard_and_every_field() -> None:
    # The round trip above is worth something only if the documents give events of every kind
    # and, between them, a value in every field.
    found = [ev for p in REAL for ev in events(p)]
    assert {ev.hazard.value for ev in found} >= {"earthquake", "tsunami", "flood", "weather", "other"}
    unset = [k for k in found[0].to_json() if not any(ev.to_json()[k] for ev in found)]
    assert unset == []


def test_a_stored_event_with_its_credit_reads_as_the_event() -> None:
    (ev, *_) = events(SAMPLES / "bmkg-tews" / "autogempa_2021-10-05_dompu_arraysyams.json")
    stored = ev.to_json() | {"attribution": "Sumber: BMKG"}
    assert HazardEvent.from_json(json.loads(json.dumps(stored))) == ev


def test_an_event_stored_before_the_later_fields_existed_reads_with_their_defaults() -> None:
    (ev, *_) = events(SAMPLES / "bmkg-tews" / "autogempa_2021-10-05_dompu_arraysyams.json")
    later = ("event_name", "description", "stage", "zones", "observations", "ended", "expires", "value", "unit")
    old = {k: v for k, v in ev.to_json().items() if k not in (*later, "flags", "instruction", "web")}
    read = HazardEvent.from_json(old | {"attribution": "Sumber: BMKG"})
    assert read == replace(ev, event_name=None, description=None, instruction=None, web=None)


def test_a_stored_warning_reads_back_as_the_warning_and_each_text_is_parsed_once() -> None:
    from warnd.model import Priority, Region, Status, Warning, WarningKind
    from warnd.model.warnings import ZonePart

    w = Warning(
        id="w-1",
        event_id="bmkg-tsunami-1",
        revision="r1",
        rule="tsunami",
        account="ntt",
        kind=WarningKind.UPDATE,
        severity="extreme",
        priority=Priority.LIFE_SAFETY,
        regions=(Region("53.10", "Kabupaten Sikka", "regency"), Region("53.09", "Kabupaten Ende", "regency")),
        lang="id",
        text="TSUNAMI",
        status=Status.ACTUAL,
        created_at=NOW,
        level="siaga",
        agency="bmkg",
        thread_label="PD-3.3",
        zone_parts=(ZonePart("53.10", "siaga", "BAGIAN UTARA"),),
    )
    text = json.dumps(w.to_json())
    assert Warning.from_text(text) == w
    # Read again (the next rule's plan, the claim of each delivery): the same parse.
    assert Warning.from_text(text) is Warning.from_text(text)
    assert Warning.from_text(json.dumps({**w.to_json(), "text": "TSUNAMI 2"})).text == "TSUNAMI 2"
