"""What a partner receives for a warning, to the byte, and what the outbox stores of its event:
real events of every kind of feed, queued with their credit and read back from the store as the
dispatcher reads them. webhook_bodies.json holds the bodies and rows as warnd has always made
them, so that a partner verifying signatures or deduplicating on the body sees no change, and a
row written by an older warnd reads the same; and, for a service that publishes its maps, the
body with the map's URL and alt text and the row that keeps the alt text.

The file is written by running this code (`python -m tests.integration.test_webhook_body`); read
its diff before committing it: a body that changed is a change every partner sees."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REGIONS, ROOT
from warnd.channels.webhook import json_body
from warnd.geo import RegionIndex, load_layers, read_place_aliases, read_points
from warnd.maps import alt_text
from warnd.model import Delivery, HazardEvent, Priority, Region, Source, Status, Warning, WarningKind
from warnd.pollers.registry import detect
from warnd.store.db import connect
from warnd.store.outbox import Outbox

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
# CAP alerts expired at NOW give an event when read at a clock before they expired.
EARLY = datetime(2013, 1, 1, tzinfo=UTC)
GOLDEN = Path(__file__).parent / "webhook_bodies.json"
EXPECTED = json.loads(GOLDEN.read_text(encoding="utf-8"))
PUBLIC_URL = "https://warnd.example.org"


def first_event(i: int, document: str) -> HazardEvent | None:
    if document == "none":
        return None
    data = (ROOT / document).read_bytes()
    return next(e for now in (NOW, EARLY) for e in detect(data, Source(f"feed-{i}", now, document))[1].events)


def warning(i: int) -> Warning:
    return Warning(
        id=f"w-{i}",
        event_id=f"e-{i}",
        revision="r",
        rule="gempa",
        account="aceh",
        kind=WarningKind.NEW,
        severity="severe",
        priority=Priority.NORMAL,
        regions=(Region("11", "Aceh", "province"),),
        lang="id",
        text="Gempa M5.1 Aceh — dirasakan",
        status=Status.ACTUAL,
        created_at=NOW,
    )


def attribution_of(i: int, event: HazardEvent | None) -> str | None:
    # One credit with a character beyond ASCII, and one event whose feed has none.
    return None if i == 4 or event is None else f"Sumber: {i}, ü"


def map_alt(i: int, event: HazardEvent | None, index: RegionIndex) -> str | None:
    """The alt text the issue step gives a warning whose map is published (none without an event)."""
    return None if event is None else alt_text(event, warning(i), index, credit=f"Kredit {i}")


def queued(tmp_path: Path, i: int, event: HazardEvent | None, alt: str | None = None) -> tuple[str, Delivery]:
    """The warning queued for a partner: the row's stored event, and the delivery read back."""
    conn = connect(tmp_path / f"w-{i}-{alt is not None}.db")
    box = Outbox(conn)
    with conn.transaction():
        assert box.enqueue(
            warning(i), [f"partner:p{i}"], NOW, event=event, attribution=attribution_of(i, event), map_alt=alt
        )
    (stored,) = conn.execute("SELECT event FROM warnings").fetchall()
    d = box.head(f"partner:p{i}")
    assert d is not None
    return stored[0], d


def golden(tmp_path: Path, index: RegionIndex) -> list[dict[str, str]]:
    """What this code makes for each document of the golden file, in the file's shape."""
    out = []
    for i, expected in enumerate(EXPECTED):
        event = first_event(i, expected["document"])
        stored, d = queued(tmp_path, i, event)
        entry = {"document": expected["document"], "stored": stored, "body": json_body(d, "radio").decode()}
        alt = map_alt(i, event, index)
        if alt is not None:
            stored, d = queued(tmp_path, i, event, alt)
            entry |= {"stored_with_map": stored, "body_with_map": json_body(d, "radio", PUBLIC_URL).decode()}
        out.append(entry)
    return out


@pytest.mark.parametrize("i", range(len(EXPECTED)), ids=lambda i: EXPECTED[i]["document"].rsplit("/", 1)[-1])
def test_a_partner_gets_the_body_it_always_got_and_the_row_is_as_stored_before(tmp_path, i):
    expected = EXPECTED[i]
    event = first_event(i, expected["document"])
    stored, d = queued(tmp_path, i, event)
    assert stored == expected["stored"]
    assert d.event == event and d.attribution == attribution_of(i, event) and d.map_alt is None
    assert json_body(d, "radio").decode() == expected["body"]


@pytest.mark.parametrize("i", range(len(EXPECTED)), ids=lambda i: EXPECTED[i]["document"].rsplit("/", 1)[-1])
def test_with_published_maps_the_body_carries_the_map_and_its_alt_text(tmp_path, index, i):
    expected = EXPECTED[i]
    event = first_event(i, expected["document"])
    alt = map_alt(i, event, index)
    if alt is None:
        assert "body_with_map" not in expected  # a warning without its event gets no map
        return
    stored, d = queued(tmp_path, i, event, alt)
    assert stored == expected["stored_with_map"]
    assert d.map_alt == alt and d.event == event
    body = json_body(d, "radio", PUBLIC_URL).decode()
    assert body == expected["body_with_map"]
    # The map object is all that differs from the body without published maps.
    named = json.loads(body)
    assert named.pop("map") == {"url": f"{PUBLIC_URL}/maps/w-{i}.png", "alt": alt}
    assert named == json.loads(expected["body"])


def test_a_row_written_before_reads_as_its_event_and_credit(tmp_path):
    # The row as an older warnd wrote it, read by this one.
    conn = connect(tmp_path / "w.db")
    box = Outbox(conn)
    expected = EXPECTED[0]
    with conn.transaction():
        box.enqueue(warning(0), ["partner:p0"], NOW)
        conn.execute("UPDATE warnings SET event = ?", (expected["stored"],))
    d = box.head("partner:p0")
    assert d is not None and d.event == first_event(0, expected["document"])
    assert d.attribution == "Sumber: 0, ü"
    assert json_body(d, "radio").decode() == expected["body"]


def test_with_a_public_url_the_body_names_the_warning_map_and_is_otherwise_the_same(tmp_path):
    expected = EXPECTED[0]
    conn = connect(tmp_path / "w.db")
    box = Outbox(conn)
    with conn.transaction():
        box.enqueue(warning(0), ["partner:p0"], NOW, event=first_event(0, expected["document"]), attribution="x")
    d = box.head("partner:p0")
    assert d is not None
    plain = json.loads(json_body(d, "radio"))
    named = json.loads(json_body(d, "radio", "https://warnd.example.org"))
    assert named.pop("map") == {"url": "https://warnd.example.org/maps/w-0.png"}
    assert named == plain
    assert "map" not in plain


def test_a_cancel_names_no_map(tmp_path):
    conn = connect(tmp_path / "w.db")
    box = Outbox(conn)
    cancel = dataclasses.replace(warning(1), id="w-c", kind=WarningKind.CANCEL)
    with conn.transaction():
        box.enqueue(cancel, ["partner:p1"], NOW)
    d = box.head("partner:p1")
    assert d is not None
    assert "map" not in json.loads(json_body(d, "radio", "https://warnd.example.org"))


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        regions = load_layers(
            [REGIONS / "provinces.geojson", REGIONS / "regencies.geojson"],
            read_points(REGIONS / "district-points.csv"),
            read_place_aliases(REGIONS / "place-aliases.csv"),
        )
        text = json.dumps(golden(Path(folder), regions), ensure_ascii=False, indent=1)
    GOLDEN.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN}")
