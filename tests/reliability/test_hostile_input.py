"""Hostile input: every attack is refused with a reason that names the feed or file, inside a
memory bound, and never by an exception escaping the parser or the config loader.

Memory is the bound asserted here (tracemalloc's peak, far below what the attack would expand
to); how long each refusal takes is a figure of `python -m tests.reliability`, not a test.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import RULES_ANY_QUAKE, write_config
from warnd.cli import main
from warnd.errors import FeedError
from warnd.geo import RegionError, read_geojson
from warnd.model import Source
from warnd.pollers.document import gunzip_capped
from warnd.pollers.registry import FORMATS

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
# Far below what any of the attacks expands to (gigabytes), far above a parser's own needs.
MEMORY_BOUND = 64 * 2**20

XML_FORMATS = ["bmkg-tews", "cap", "dsda-xml", "gdacs", "bmkg-inatews"]
JSON_FORMATS = ["bmkg-realtime", "usgs-geojson", "petabencana", "gauge-geojson", "usgs-nwis"]
TEXT_FORMATS = ["dsda-history", "jakarta-csv"]


def billion_laughs(levels: int = 10) -> bytes:
    ents = ['<!ENTITY lol0 "lol">']
    ents += [f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, levels)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE alert [{"".join(ents)}]>\n<alert>&lol{levels - 1};</alert>').encode()


def quadratic_blowup() -> bytes:
    big = "x" * 100_000
    return (f'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY a "{big}">]>\n<alert>{"&a;" * 50_000}</alert>').encode()


def external_entity() -> bytes:
    return b'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<alert>&x;</alert>'


def external_dtd(url: str) -> bytes:
    return f'<?xml version="1.0"?>\n<!DOCTYPE alert SYSTEM "{url}">\n<alert>&x;</alert>'.encode()


def deep_xml(depth: int = 200_000) -> bytes:
    return b"<a>" * depth + b"</a>" * depth


def deep_json(depth: int = 200_000) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int = 200_000) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


INVALID_UTF8 = b'{"type": "FeatureCollection", "features": [{"properties": {"place": "Pal\xffu"}}]}'
INVALID_UTF8_XML = b'<?xml version="1.0" encoding="UTF-8"?><alert><headline>Pal\xff\xfeu</headline></alert>'


@contextmanager
def memory_bound() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"peak {peak / 2**20:.0f} MB"


def refuse(fmt: str, data: bytes) -> str:
    with memory_bound(), pytest.raises(FeedError) as info:
        FORMATS[fmt](data, Source("hostile", NOW, "http://127.0.0.1/hostile"))
    assert info.value.feed == "hostile"
    return info.value.message


def test_every_format_in_the_registry_is_attacked():
    assert set(XML_FORMATS) | set(JSON_FORMATS) | set(TEXT_FORMATS) == set(FORMATS)


@pytest.mark.parametrize("fmt", TEXT_FORMATS)
@pytest.mark.parametrize("attack", [deep_json, lambda: INVALID_UTF8, lambda: b"\0" * 2**20])
def test_text_formats_refuse_what_is_not_theirs(fmt: str, attack: Callable[[], bytes]):
    assert refuse(fmt, attack())


@pytest.mark.parametrize("fmt", XML_FORMATS)
@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        (billion_laughs, "XML refused: EntitiesForbidden"),
        (quadratic_blowup, "XML refused: EntitiesForbidden"),
        (external_entity, "XML refused: EntitiesForbidden"),
    ],
)
def test_xml_entities_and_dtds_are_refused(fmt: str, attack: Callable[[], bytes], reason: str):
    assert refuse(fmt, attack()) == reason


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_an_external_dtd_is_never_fetched(fmt: str, feed_server):
    # A DOCTYPE alone is allowed (old RSS feeds carry one); what it points at is never read, so
    # an entity it would define stays undefined.
    url = feed_server.serve("/evil.dtd", b'<!ENTITY x "pwned">')
    assert refuse(fmt, external_dtd(url)).startswith("invalid XML at line 3 column")
    assert [s for s in feed_server.served if s.path == "/evil.dtd"] == []


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_deeply_nested_xml_is_refused_or_read_without_recursion(fmt: str):
    # Either a refusal with a reason or a document with nothing in it: never a RecursionError.
    try:
        with memory_bound():
            result = FORMATS[fmt](deep_xml(), Source("hostile", NOW, "http://127.0.0.1/hostile"))
    except FeedError as e:
        assert e.message
    else:
        assert result.events == ()


@pytest.mark.parametrize("fmt", JSON_FORMATS)
@pytest.mark.parametrize("attack", [deep_json, deep_object])
def test_deeply_nested_json_is_refused(fmt: str, attack: Callable[[], bytes]):
    assert refuse(fmt, attack()) == "JSON nested too deeply"


@pytest.mark.parametrize("fmt", JSON_FORMATS)
def test_invalid_utf8_json_names_the_byte(fmt: str):
    at = INVALID_UTF8.index(b"\xff")
    assert refuse(fmt, INVALID_UTF8) == f"not UTF-8 text (byte {at}: invalid start byte)"


@pytest.mark.parametrize("fmt", XML_FORMATS)
def test_invalid_utf8_xml_names_line_and_column(fmt: str):
    assert refuse(fmt, INVALID_UTF8_XML).startswith("invalid XML at line 1 column")


def test_gzip_bomb_stops_at_the_cap():
    bomb = gzip.compress(b"\0" * (200 * 2**20), compresslevel=9)
    assert len(bomb) < 300_000
    with memory_bound(), pytest.raises(FeedError, match="gzip content larger than the cap of 1048576 bytes"):
        gunzip_capped(bomb, "hostile", 2**20)


# -- operator files ---------------------------------------------------------------------------

FEEDS = """  - id: gempa
    format: bmkg-tews
    url: /nonexistent.json
"""


def check(cfg: Path, capsys, bound: bool = True) -> tuple[int, str]:
    if bound:
        with memory_bound():
            code = main(["check", "-c", str(cfg)])
    else:
        # PyYAML's parser is recursive: a refusal at the recursion limit is slow to trace.
        code = main(["check", "-c", str(cfg)])
    return code, capsys.readouterr().err


def yaml_alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_in_a_rules_file_is_refused(tmp_path, capsys):
    rules = RULES_ANY_QUAKE + "x-" + yaml_alias_bomb().replace("\n", "\nx-").rstrip("x-")
    cfg = write_config(tmp_path, feeds=FEEDS, rules=rules)
    code, err = check(cfg, capsys)
    assert code == 2
    assert "rules/test.yaml" in err and "aliases expand to more than" in err


def test_yaml_alias_bomb_in_the_main_file_is_refused(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra=yaml_alias_bomb())
    code, err = check(cfg, capsys)
    assert code == 2
    assert "warnd.yaml" in err and "aliases expand to more than" in err


def test_ordinary_anchors_and_merge_keys_still_work(tmp_path, capsys):
    rules = """defaults: &quake
  hazard: earthquake
rules:
  - id: gempa-a
    match:
      <<: *quake
      magnitude: ">= 5"
    then:
      accounts: ["*"]
  - id: gempa-b
    match: *quake
    then:
      accounts: ["*"]
"""
    cfg = write_config(tmp_path, feeds=FEEDS, rules=rules)
    code, err = check(cfg, capsys)
    # The unknown top-level key is reported; the anchors themselves are not a problem.
    assert "aliases expand" not in err
    assert code == 2 and "defaults: unknown key" in err


def test_deeply_nested_yaml_is_refused_with_its_file(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE, extra="deep: " + "[" * 2000 + "]" * 2000)
    code, err = check(cfg, capsys, bound=False)
    assert code == 2
    assert "warnd.yaml" in err and "nested too deeply" in err


def test_invalid_utf8_in_a_rules_file_names_the_file(tmp_path, capsys):
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE)
    (tmp_path / "rules" / "test.yaml").write_bytes(RULES_ANY_QUAKE.encode() + b"# Pal\xffu\n")
    code, err = check(cfg, capsys)
    assert code == 2
    assert "rules/test.yaml" in err and "invalid start byte" in err


def test_enormous_region_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "huge.geojson"
    with path.open("wb") as f:
        f.write(b'{"type": "FeatureCollection", "features": [')
        f.truncate(300 * 2**20)  # sparse: 300 MB on paper, nothing on disk
    with memory_bound(), pytest.raises(RegionError, match=r"huge.geojson: 300 MB is larger than the limit of \d+ MB"):
        read_geojson(path)


def test_deeply_nested_region_file_is_refused(tmp_path):
    path = tmp_path / "deep.geojson"
    path.write_bytes(deep_object(100_000))
    with memory_bound(), pytest.raises(RegionError, match=r"deep.geojson: .*nested too deeply"):
        read_geojson(path)


def test_region_feature_with_a_200k_vertex_ring_is_read_in_bound(tmp_path):
    # Large but honest: read, not refused (a national coastline can be this big).
    ring = [[100 + i * 1e-6, 0.0] for i in range(200_000)] + [[100.1, 0.1], [100.0, 0.0]]
    feat = {
        "type": "Feature",
        "properties": {"code": "99", "name": "Besar"},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    path = tmp_path / "big.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feat]}))
    with memory_bound():
        regions = read_geojson(path)
    assert [r.code for r, _ in regions] == ["99"]


# -- a parser that fails in a way nobody foresaw ------------------------------------------------


def test_a_parser_crash_fails_only_its_feed_with_a_reason(tmp_path, feed_server, monkeypatch):
    from tests.integration.test_polling import Rig, feed_yaml
    from warnd.obs import setup_logging
    from warnd.pollers import registry

    # Logging to this test's stderr, not to the stream of an earlier test's CLI call (closed).
    setup_logging("info", json=True)

    def broken(data: bytes, src: Source):
        raise KeyError("magnitude")

    url = feed_server.serve("/auto.json", b"{}")
    monkeypatch.setitem(registry.FORMATS, "bmkg-tews", broken)
    rig = Rig(tmp_path, feed_yaml(url))
    rig.poll("f1")
    state = rig.states.get("f1")
    assert state.failures == 1
    assert state.last_error == "the bmkg-tews parser failed on this document: KeyError"
    assert rig.until("f1") > rig.clock.now()


def test_a_control_character_in_a_rules_file_names_file_and_line(tmp_path, capsys):
    # Found by the config fuzz campaign: PyYAML refuses it before parsing, outside any YAML error.
    cfg = write_config(tmp_path, feeds=FEEDS, rules=RULES_ANY_QUAKE.replace("hazard:", "haz\0ard:"))
    code, err = check(cfg, capsys)
    assert code == 2
    line = RULES_ANY_QUAKE[: RULES_ANY_QUAKE.index("hazard:")].count("\n") + 1
    assert f"rules/test.yaml:{line}: character 0x0000 is not allowed in YAML" in err
