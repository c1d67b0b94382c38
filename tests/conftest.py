"""Shared test fixtures: real loopback servers, real files, no mocks of warnd's own parts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from warnd.testing.feed_server import FeedServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "feeds" / "samples"
REGIONS = ROOT / "config" / "regions"
TEMPLATES = ROOT / "config" / "templates"


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def write_config(
    folder: Path,
    *,
    feeds: str,
    rules: str,
    accounts: str | None = None,
    extra: str = "",
) -> Path:
    """A small real config in `folder`, using the shipped regions and templates."""
    (folder / "rules").mkdir(parents=True, exist_ok=True)
    (folder / "rules" / "test.yaml").write_text(rules)
    if accounts is None:
        accounts = f"""
  jabar: {{channel: file, path: {folder}/posts.jsonl, name: "Jawa Barat", regions: ["32"]}}
  ntb: {{channel: file, path: {folder}/posts.jsonl, name: "NTB", regions: ["52"]}}
"""
    cfg = folder / "warnd.yaml"
    cfg.write_text(
        f"""state_dir: {folder}/state
listen: 127.0.0.1:0
feeds:
{feeds}
regions:
  - name: provinsi
    path: {REGIONS}/provinces.geojson
  - name: kabupaten-kota
    path: {REGIONS}/regencies.geojson
templates: {TEMPLATES}
rules:
  - rules/*.yaml
accounts:{accounts}
{extra}"""
    )
    return cfg


RULES_ANY_QUAKE = """rules:
  - id: gempa-test
    match:
      hazard: earthquake
      magnitude: ">= 2.5"
    where:
      within_km: 60
    then:
      accounts: ["*"]
"""
