"""Property-based: whatever bytes arrive, a parser returns a result or raises FeedError, and
every event it returns is well-formed. Real documents, mutated, and arbitrary bytes."""

import json
import math
import os
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import SAMPLES
from tests.unit.test_gauges import PETA
from warnd.errors import FeedError
from warnd.model import ParseResult, Source
from warnd.pollers.registry import FORMATS, detect

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def _head(path, lines=120):
    return b"\n".join(path.read_bytes().split(b"\n")[:lines])


SEEDS = {
    "bmkg-tews": sorted((SAMPLES / "bmkg-tews").iterdir()),
    "bmkg-inatews": [
        p for p in sorted((SAMPLES / "bmkg-inatews").iterdir()) if p.name.startswith(("datagempa", "last30"))
    ],
    "bmkg-realtime": [
        p for p in sorted((SAMPLES / "bmkg-inatews").iterdir()) if p.name.startswith(("gempaQL", "live30"))
    ],
    "usgs-geojson": sorted((SAMPLES / "usgs-geojson").iterdir()),
    "gdacs": sorted((SAMPLES / "gdacs-rss").iterdir()),
    "cap": sorted((SAMPLES / "cap-other").glob("*.xml")) + sorted((SAMPLES / "bmkg-nowcast").iterdir()),
    "dsda-xml": sorted((SAMPLES / "gauges").glob("dsda-xmldata*")),
    "dsda-history": sorted((SAMPLES / "gauges").glob("dsda-history*")),
    "jakarta-csv": sorted((SAMPLES / "gauges").glob("*2019-04*.csv")),
    "usgs-nwis": sorted((SAMPLES / "gauges").glob("usgs-nwis*")),
}
DOCS = {fmt: [_head(p) if p.suffix == ".csv" else p.read_bytes() for p in paths] for fmt, paths in SEEDS.items()}
# No real document of these two exists: their seeds follow the documented shape.
SYNTHETIC = {
    "petabencana": [json.dumps(PETA).encode()],
    "gauge-geojson": [
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [106.84, -6.63]},
                        "properties": {
                            "station": "katulampa",
                            "time": "2026-11-23T10:00:00+07:00",
                            "level_cm": 141,
                            "previous_cm": 23,
                            "thresholds_cm": {"siaga3": 80, "siaga2": 150, "siaga1": 200},
                        },
                    }
                ],
            }
        ).encode()
    ],
}
DOCS.update(SYNTHETIC)


def test_every_format_has_seeds():
    assert set(DOCS) == set(FORMATS)
    assert all(DOCS.values())
    for fmt, docs in DOCS.items():
        for d in docs:
            r = FORMATS[fmt](d, Source("seed", NOW))  # a seed is a readable document
            assert r.events or r.rejected or r.links, fmt


def check(result: ParseResult) -> None:
    assert isinstance(result, ParseResult)
    for ev in result.events:
        assert ev.time.tzinfo is not None
        if ev.lat is not None:
            assert math.isfinite(ev.lat) and -90 <= ev.lat <= 90
        if ev.lon is not None:
            assert math.isfinite(ev.lon) and -180 <= ev.lon <= 180
        if ev.magnitude is not None:
            assert math.isfinite(ev.magnitude)
        if ev.value is not None:
            assert math.isfinite(ev.value)
        ev.to_json()
        assert ev.revision


def run(fmt: str, data: bytes) -> None:
    try:
        result = FORMATS[fmt](data, Source("fuzz", NOW))
    except FeedError:
        return
    check(result)


INSERTS = [b"NaN", b"-999", b"\xff\xfe", b"<", b'"', b",", b"1e309", b"\x00", b"]"]


def mutate(draw, original: bytes, inserts: list[bytes], span: int = 40) -> bytes:
    """One to four random damages: truncated, a byte flipped, `inserts` put in, a run deleted
    or repeated."""
    doc = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "dup"]))
        pos = draw(st.integers(0, max(len(doc) - 1, 0)))
        if kind == "truncate":
            del doc[pos:]
        elif kind == "flip" and doc:
            doc[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            doc[pos:pos] = draw(st.sampled_from(inserts))
        elif kind == "delete":
            del doc[pos : pos + draw(st.integers(1, span))]
        elif kind == "dup":
            doc[pos:pos] = doc[pos : pos + draw(st.integers(1, span * 5))]
    return bytes(doc)


@st.composite
def mutated(draw, fmt):
    return mutate(draw, draw(st.sampled_from(DOCS[fmt])), INSERTS)


# A few hundred examples in all in CI; `python -m tests.reliability --long` sets tens of thousands.
EXAMPLES = int(os.environ.get("WARND_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes(fmt, data):
    run(fmt, data)


@pytest.mark.parametrize("fmt", sorted(DOCS))
@FUZZ
@given(data=st.data())
def test_mutated_real_documents(fmt, data):
    run(fmt, data.draw(mutated(fmt)))


@FUZZ
@given(data=st.data())
def test_detection_never_raises_anything_else(data):
    fmt = data.draw(st.sampled_from(sorted(DOCS)))
    doc = data.draw(mutated(fmt))
    try:
        _, result = detect(doc, Source("fuzz", NOW))
    except FeedError:
        return
    check(result)


def test_unknown_xml_encoding_is_a_feed_error():
    # Found by the mutation test above: a damaged declaration raised LookupError.
    doc = b'<?xml version="1.0" encoding="U-F-8"?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>'
    for fmt in ("cap", "bmkg-inatews", "gdacs", "dsda-xml", "bmkg-tews"):
        with pytest.raises(FeedError):
            FORMATS[fmt](doc, Source("x", NOW))
